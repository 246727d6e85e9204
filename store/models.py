"""The schema, as SQLAlchemy 2 typed ORM classes.

The Alembic migrations in ``store/migrations`` must produce exactly this schema (a test compares
them). Business rules that protect the data regardless of which process writes it — hours 1–23,
message length, the outcome vocabulary — are ``CHECK`` constraints, not only API validation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.reach import DEFAULT_OPT_IN_KEYWORDS, DEFAULT_OPT_OUT_KEYWORDS, DEFAULT_TIMEZONE
from core.vocabulary import (
    BSUID_MAX_LENGTH,
    DEFAULT_ENABLED,
    DEFAULT_EXPIRY_HOURS,
    DEFAULT_MESSAGE,
    MAX_EXPIRY_HOURS,
    MAX_MESSAGE_LENGTH,
    MIN_EXPIRY_HOURS,
    MIN_MESSAGE_LENGTH,
    STORED_OUTCOMES,
    DeliveryStatus,
    SendKind,
)
from store.types import UTCDateTime

# Deterministic constraint names, so that migrations can refer to (and later drop) them on every
# dialect; SQLite in particular needs names for batch-mode table rebuilds.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: Iterable[str]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AccountRow(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("length(account_id) BETWEEN 1 AND 64", name="account_id_length"),
        # core.vocabulary.ACCOUNT_ID_PATTERN in each dialect's SQL. SQLite has no regular
        # expressions by default; GLOB with a negated class says the same.
        CheckConstraint("account_id ~ '^[A-Za-z0-9_-]+$'", name="account_id_charset").ddl_if(
            dialect="postgresql"
        ),
        CheckConstraint("account_id NOT GLOB '*[^A-Za-z0-9_-]*'", name="account_id_charset").ddl_if(
            dialect="sqlite"
        ),
    )

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    company_name: Mapped[str] = mapped_column(Text)
    phone_number_id: Mapped[str] = mapped_column(String(64), unique=True)
    access_token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SessionSettingsRow(Base):
    __tablename__ = "session_settings"
    __table_args__ = (
        CheckConstraint(
            f"expiry_hours BETWEEN {MIN_EXPIRY_HOURS} AND {MAX_EXPIRY_HOURS}",
            name="expiry_hours_range",
        ),
        CheckConstraint(
            f"length(message) BETWEEN {MIN_MESSAGE_LENGTH} AND {MAX_MESSAGE_LENGTH}",
            name="message_length",
        ),
    )

    account_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("accounts.account_id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(
        Boolean, default=DEFAULT_ENABLED, server_default=sql_text("false")
    )
    expiry_hours: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_EXPIRY_HOURS, server_default=sql_text(str(DEFAULT_EXPIRY_HOURS))
    )
    message: Mapped[str] = mapped_column(
        Text, default=DEFAULT_MESSAGE, server_default=DEFAULT_MESSAGE
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Counts the saves; every running session must learn of each (docs/sessions.md).
    version: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    # The newest version every running session was told about.
    delivered_version: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    # Reaching the customer the right way (docs/reaching.md), as JSON: core.reach's models.
    quiet_hours: Mapped[dict[str, str] | None] = mapped_column(JSON)
    timezone: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_TIMEZONE, server_default=DEFAULT_TIMEZONE
    )
    opt_out_keywords: Mapped[list[str]] = mapped_column(
        JSON,
        default=lambda: list(DEFAULT_OPT_OUT_KEYWORDS),
        server_default=json.dumps(list(DEFAULT_OPT_OUT_KEYWORDS)),
    )
    opt_in_keywords: Mapped[list[str]] = mapped_column(
        JSON,
        default=lambda: list(DEFAULT_OPT_IN_KEYWORDS),
        server_default=json.dumps(list(DEFAULT_OPT_IN_KEYWORDS)),
    )
    fallback_template: Mapped[dict[str, object] | None] = mapped_column(JSON)
    # What Meta charges per delivered message (docs/analytics.md#cost); NULL: no estimate.
    message_prices: Mapped[dict[str, object] | None] = mapped_column(JSON)


class SettingsChangeRow(Base):
    __tablename__ = "settings_changes"
    __table_args__ = (Index(None, "account_id", "changed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean)
    expiry_hours: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(Text)
    # The rest of the settings document (quiet hours, time zone, keywords, template); NULL in
    # changes saved before they existed.
    reach: Mapped[dict[str, object] | None] = mapped_column(JSON)


class ContactRow(Base):
    """A customer of an account, known by phone number, by BSUID, or both (docs/sessions.md)."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("account_id", "wa_id"),
        UniqueConstraint("account_id", "user_id"),
        CheckConstraint(
            "wa_id IS NOT NULL OR user_id IS NOT NULL OR parent_user_id IS NOT NULL",
            name="identified",
        ),
    )

    account_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("accounts.account_id", ondelete="CASCADE"), primary_key=True
    )
    # Given when the contact first appeared and never changed: it names the workflow.
    conversation_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    wa_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(BSUID_MAX_LENGTH))
    parent_user_id: Mapped[str | None] = mapped_column(String(BSUID_MAX_LENGTH))
    username: Mapped[str | None] = mapped_column(Text)
    profile_name: Mapped[str | None] = mapped_column(Text)
    first_name: Mapped[str | None] = mapped_column(Text)
    last_name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Opted out of reminders and templates (docs/reaching.md#opt-out); the time of the
    # keyword message or API call that set it, so that an older keyword cannot undo a newer one.
    opted_out: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sql_text("false")
    )
    opted_out_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReminderRow(Base):
    __tablename__ = "reminders"
    __table_args__ = (
        CheckConstraint(_in("outcome", STORED_OUTCOMES), name="outcome_known"),
        CheckConstraint(
            "delivery_status IS NULL OR " + _in("delivery_status", DeliveryStatus),
            name="delivery_status_known",
        ),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        CheckConstraint(_in("kind", SendKind), name="kind_known"),
        # The audit list: one account, newest decision first, reminder_id as the tie-breaker.
        # Ascending on purpose: the list orders by (decided_at DESC, reminder_id DESC), which both
        # dialects serve by scanning this index backwards; a (decided_at DESC, reminder_id ASC)
        # index would not match that order.
        Index("ix_reminders_account_decided", "account_id", "decided_at", "reminder_id"),
        # Newest reminder per conversation (session list), and the list filtered by customer.
        Index(
            "ix_reminders_account_key_decided",
            "account_id",
            "conversation_key",
            "decided_at",
            "reminder_id",
        ),
        # The audit retention purge: the oldest records of every account (store.retention).
        Index("ix_reminders_decided_at", "decided_at"),
        # The analytics (store.analytics): one account's reminders or templates over a range of
        # decision times, then every column its counts read, so that SQLite and PostgreSQL
        # answer from the index without visiting the table (docs/analytics.md#the-index).
        Index(
            "ix_reminders_account_kind_decided",
            "account_id",
            "kind",
            "decided_at",
            "outcome",
            "delivery_status",
            "replied_at",
            "reply_seconds",
            "wa_id",
        ),
    )

    reminder_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    conversation_key: Mapped[str] = mapped_column(String(64))
    wa_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(BSUID_MAX_LENGTH))
    last_customer_message_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(32))
    # NULL for decisions that never claim a send; unique otherwise (NULLs are distinct on both
    # dialects), which is what makes "one reminder per silence" hold across workers.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    reason: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    text: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A reminder (free-form, inside the window) or the template sent when the window closed.
    kind: Mapped[str] = mapped_column(
        String(16), default=SendKind.REMINDER, server_default=SendKind.REMINDER.value
    )
    # When it was due by the hours alone (for a template: the window's close), and when its
    # first send attempt went out, later or earlier when quiet hours moved it
    # (docs/reaching.md); NULL in records from before quiet hours, send_at NULL when skipped.
    nominal_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The customer's first message after a sent reminder, inside that window, and how long after
    # the send it came (docs/analytics.md#replies); NULL when the customer did not reply.
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reply_seconds: Mapped[int | None] = mapped_column(Integer)


class ApiTokenRow(Base):
    """An account-scoped API token: only its SHA-256 is kept (core.api_tokens)."""

    __tablename__ = "api_tokens"
    # The token list of an account, and the cascade when an account goes.
    __table_args__ = (Index(None, "account_id"),)

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    # Every request with an account token looks it up by this (one unique-index probe).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SendPacingRow(Base):
    """The shared send pacer of one business number (activities/throttle.py): when its next
    send slot falls, on the database's clock, in seconds since the epoch.

    No foreign key to ``accounts``: a slot is reserved before the send activity reads the
    account, so an account that is missing then gets that activity's own decision ("account
    not found"), not a constraint error.
    """

    __tablename__ = "send_pacing"

    pacing_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The "theoretical arrival time" of GCRA: the next free slot, never in the past by more
    # than the moment of the last reservation.
    next_slot_at: Mapped[float] = mapped_column(Double)
    reserved_at: Mapped[float] = mapped_column(Double)
