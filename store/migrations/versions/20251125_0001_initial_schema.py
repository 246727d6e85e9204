"""Initial schema: accounts, session settings and their history, contacts, reminder audit.

Revision ID: 0001
Revises:
Create Date: 2025-11-25

Values are spelled out rather than imported from ``store`` so that this revision keeps creating
the same schema when the application code moves on. Check-constraint names are wrapped in
``op.f()`` because the metadata's naming convention would otherwise prefix them a second time.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEFAULT_MESSAGE = (
    "Hi {contact_firstname}! Following up on our conversation. Still interested? Let me know! 😊"
)
_OUTCOMES = (
    "'pending', 'retrying', 'sent', 'skipped_disabled', 'skipped_window_closed', "
    "'failed_window_closed', 'failed', 'unknown'"
)


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"],
        ["accounts.account_id"],
        name=f"fk_{table}_account_id_accounts",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("company_name", sa.Text(), nullable=False),
        sa.Column("phone_number_id", sa.String(length=64), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint(
            "length(account_id) BETWEEN 1 AND 64", name=op.f("ck_accounts_account_id_length")
        ),
        # SQLite has no regular expressions by default; GLOB with a negated class says the same.
        sa.CheckConstraint(
            "account_id ~ '^[A-Za-z0-9_-]+$'", name=op.f("ck_accounts_account_id_charset")
        ).ddl_if(dialect="postgresql"),
        sa.CheckConstraint(
            "account_id NOT GLOB '*[^A-Za-z0-9_-]*'", name=op.f("ck_accounts_account_id_charset")
        ).ddl_if(dialect="sqlite"),
        sa.PrimaryKeyConstraint("account_id", name="pk_accounts"),
        sa.UniqueConstraint("phone_number_id", name="uq_accounts_phone_number_id"),
    )

    op.create_table(
        "session_settings",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("expiry_hours", sa.Integer(), server_default=sa.text("23"), nullable=False),
        sa.Column("message", sa.Text(), server_default=_DEFAULT_MESSAGE, nullable=False),
        _at("updated_at"),
        sa.CheckConstraint(
            "expiry_hours BETWEEN 1 AND 23", name=op.f("ck_session_settings_expiry_hours_range")
        ),
        sa.CheckConstraint(
            "length(message) BETWEEN 10 AND 1000", name=op.f("ck_session_settings_message_length")
        ),
        _account_fk("session_settings"),
        sa.PrimaryKeyConstraint("account_id", name="pk_session_settings"),
    )

    op.create_table(
        "settings_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        _at("changed_at"),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("expiry_hours", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=False),
        _account_fk("settings_changes"),
        sa.PrimaryKeyConstraint("id", name="pk_settings_changes"),
    )
    op.create_index(
        "ix_settings_changes_account_id_changed_at",
        "settings_changes",
        ["account_id", "changed_at"],
    )

    op.create_table(
        "contacts",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("wa_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_key", sa.String(length=64), nullable=False),
        sa.Column("profile_name", sa.Text(), nullable=True),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _account_fk("contacts"),
        sa.PrimaryKeyConstraint("account_id", "wa_id", name="pk_contacts"),
        sa.UniqueConstraint(
            "account_id", "conversation_key", name="uq_contacts_account_id_conversation_key"
        ),
    )

    op.create_table(
        "reminders",
        sa.Column("reminder_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_key", sa.String(length=64), nullable=False),
        sa.Column("wa_id", sa.String(length=32), nullable=False),
        _at("last_customer_message_at"),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("delivery_status", sa.String(length=16), nullable=True),
        _at("delivery_updated_at", nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("decided_at"),
        _at("created_at"),
        sa.CheckConstraint(f"outcome IN ({_OUTCOMES})", name=op.f("ck_reminders_outcome_known")),
        sa.CheckConstraint(
            "delivery_status IS NULL OR delivery_status IN ('sent', 'delivered', 'read', 'failed')",
            name=op.f("ck_reminders_delivery_status_known"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_reminders_attempts_non_negative")),
        _account_fk("reminders"),
        sa.PrimaryKeyConstraint("reminder_id", name="pk_reminders"),
        sa.UniqueConstraint("idempotency_key", name="uq_reminders_idempotency_key"),
    )
    op.create_index(
        "ix_reminders_account_decided", "reminders", ["account_id", "decided_at", "reminder_id"]
    )
    op.create_index(
        "ix_reminders_account_key_decided",
        "reminders",
        ["account_id", "conversation_key", "decided_at", "reminder_id"],
    )
    op.create_index(
        "ix_reminders_account_wa_decided",
        "reminders",
        ["account_id", "wa_id", "decided_at", "reminder_id"],
    )
    op.create_index("ix_reminders_message_id", "reminders", ["message_id"])


def downgrade() -> None:
    op.drop_table("reminders")
    op.drop_table("contacts")
    op.drop_table("settings_changes")
    op.drop_table("session_settings")
    op.drop_table("accounts")
