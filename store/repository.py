"""``Store``: the keyword-only data-access API over the SQL database.

Every method opens its own short transaction and returns frozen records from ``store.records``,
never ORM objects, so callers cannot lazy-load or mutate rows by accident.

The reminder audit doubles as the idempotency record of the never-duplicate protocol (SPEC §4):

    claim_reminder  ─ acquired ─▶ send ─┬─ finish_reminder(sent / failed / ...)
          │                             ├─ finish_reminder(unknown)   the request may have left
          │                             └─ release_reminder           it certainly did not leave
          └─ not acquired: the existing record says what happened (final → reuse it;
             ``pending`` → an earlier attempt died mid-send → ambiguous, never re-sent blindly)

Only a ``retrying`` record can be claimed again, through a conditional UPDATE so that two racing
workers cannot both win. Writers that must read before writing lock the row (``FOR UPDATE`` on
PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite, see ``store.db``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.db import WRITE_INTENT
from store.errors import AccountNotFound, InvalidCursor, PhoneNumberTaken, ReminderNotFound
from store.models import AccountRow, ContactRow, ReminderRow, SessionSettingsRow, SettingsChangeRow
from store.records import (
    DEFAULT_ENABLED,
    DEFAULT_EXPIRY_HOURS,
    DEFAULT_MESSAGE,
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_READ,
    DELIVERY_SENT,
    DELIVERY_STATUSES,
    OUTCOME_FAILED,
    OUTCOME_FAILED_WINDOW_CLOSED,
    OUTCOME_PENDING,
    OUTCOME_RETRYING,
    OUTCOME_SENT,
    OUTCOME_UNKNOWN,
    OUTCOMES,
    WINDOW_CLOSED_ERROR_CODE,
    Account,
    Contact,
    ReminderClaim,
    ReminderContext,
    ReminderPage,
    ReminderRecord,
    SessionSettingsRecord,
    SettingsChange,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_R = TypeVar("_R", bound="DataclassInstance")

ACCOUNT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Delivery states only move forward; ``failed`` has no rank (see apply_delivery_status).
_DELIVERY_RANK = {DELIVERY_SENT: 1, DELIVERY_DELIVERED: 2, DELIVERY_READ: 3}
# Outcomes a status webhook may correct: it proves Meta accepted the message.
_UNPROVEN_OUTCOMES = frozenset({OUTCOME_PENDING, OUTCOME_UNKNOWN})
# Outcomes finish_reminder may overwrite. A final outcome already written by a status webhook
# (which can overtake the sending activity) is evidence and is kept.
_FINISHABLE_OUTCOMES = frozenset({OUTCOME_PENDING, OUTCOME_RETRYING, OUTCOME_UNKNOWN})


_SelectT = TypeVar("_SelectT", bound=Select[Any])


def _utcnow() -> datetime:
    return datetime.now(UTC)


def idempotency_key(*, conversation_key: str, last_customer_message_at: datetime) -> str:
    """The key of "one reminder per silence": the conversation and its T, normalised to UTC."""
    return f"{conversation_key}:{last_customer_message_at.astimezone(UTC).isoformat()}"


class Store:
    """Data access for the API and the worker; safe to share between concurrent tasks.

    The reminder methods take an optional ``at``: the activity stamps its decisions with its
    own clock (the time-skipping server's in tests), so "decided at" is the decision's time.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock

    # -- plumbing ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        async with self._sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        async with self._sessionmaker() as session, session.begin():
            # Procure the connection now, flagged, so SQLite starts with BEGIN IMMEDIATE.
            await session.connection(execution_options={WRITE_INTENT: True})
            yield session

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the store clock must return aware datetimes")
        return now.astimezone(UTC)

    @staticmethod
    def _is_postgres(session: AsyncSession) -> bool:
        return session.get_bind().dialect.name == "postgresql"

    @staticmethod
    def _insert(session: AsyncSession, row: type[Any]) -> Any:
        # Both dialect inserts offer on_conflict_do_nothing / on_conflict_do_update with the same
        # keywords; typed Any because SQLAlchemy has no common protocol for them.
        if session.get_bind().dialect.name == "postgresql":
            return postgresql.insert(row)
        return sqlite.insert(row)

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query (readiness probe)."""
        async with self._read() as session:
            await session.execute(text("SELECT 1"))

    # -- accounts ---------------------------------------------------------------------------

    async def upsert_account(
        self,
        *,
        account_id: str,
        company_name: str,
        phone_number_id: str,
        access_token: str | None,
    ) -> tuple[Account, bool]:
        """Create or update an account; the bool says whether it was created.

        ``access_token=None`` keeps the stored token on update and is refused on create.
        """
        if not ACCOUNT_ID_PATTERN.fullmatch(account_id):
            raise ValueError("account_id must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
        try:
            return await self._upsert_account(
                account_id=account_id,
                company_name=company_name,
                phone_number_id=phone_number_id,
                access_token=access_token,
            )
        except IntegrityError:
            # Lost a race for the phone number (the pre-check saw it free): report it as such.
            owner = await self.get_account_by_phone_number_id(phone_number_id=phone_number_id)
            if owner is not None and owner.account_id != account_id:
                raise PhoneNumberTaken(phone_number_id, owner_account_id=owner.account_id) from None
            raise

    async def _upsert_account(
        self,
        *,
        account_id: str,
        company_name: str,
        phone_number_id: str,
        access_token: str | None,
    ) -> tuple[Account, bool]:
        now = self._now()
        async with self._write() as session:
            owner = await session.scalar(
                select(AccountRow.account_id).where(
                    AccountRow.phone_number_id == phone_number_id,
                    AccountRow.account_id != account_id,
                )
            )
            if owner is not None:
                raise PhoneNumberTaken(phone_number_id, owner_account_id=owner)

            if access_token is not None:
                # ON CONFLICT on the primary key only: a phone-number clash still raises.
                inserted = await session.scalar(
                    self._insert(session, AccountRow)
                    .values(
                        account_id=account_id,
                        company_name=company_name,
                        phone_number_id=phone_number_id,
                        access_token=access_token,
                        created_at=now,
                        updated_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=[AccountRow.account_id])
                    .returning(AccountRow)
                )
                if inserted is not None:
                    return _record(Account, inserted), True

            values: dict[str, Any] = {
                "company_name": company_name,
                "phone_number_id": phone_number_id,
                "updated_at": now,
            }
            if access_token is not None:
                values["access_token"] = access_token
            updated = await session.scalar(
                update(AccountRow)
                .where(AccountRow.account_id == account_id)
                .values(**values)
                .returning(AccountRow)
            )
            if updated is None:
                raise ValueError("access_token is required to create an account")
            return _record(Account, updated), False

    async def get_account(self, *, account_id: str) -> Account | None:
        async with self._read() as session:
            row = await session.get(AccountRow, account_id)
            return None if row is None else _record(Account, row)

    async def get_account_by_phone_number_id(self, *, phone_number_id: str) -> Account | None:
        async with self._read() as session:
            row = await session.scalar(
                select(AccountRow).where(AccountRow.phone_number_id == phone_number_id)
            )
            return None if row is None else _record(Account, row)

    # -- session settings -------------------------------------------------------------------

    async def get_session_settings(self, *, account_id: str) -> SessionSettingsRecord:
        """The account's settings, or the defaults while it has never saved any."""
        async with self._read() as session:
            found = await self._settings_of(session, account_id)
        if found is None:
            raise AccountNotFound(account_id)
        return found

    @staticmethod
    async def _settings_of(session: AsyncSession, account_id: str) -> SessionSettingsRecord | None:
        """Settings (defaults while never saved); None when the account does not exist."""
        result = await session.execute(
            select(AccountRow.account_id, SessionSettingsRow)
            .outerjoin(SessionSettingsRow)
            .where(AccountRow.account_id == account_id)
        )
        found = result.one_or_none()
        if found is None:
            return None
        row: SessionSettingsRow | None = found[1]
        if row is None:
            return SessionSettingsRecord(
                enabled=DEFAULT_ENABLED,
                expiry_hours=DEFAULT_EXPIRY_HOURS,
                message=DEFAULT_MESSAGE,
                updated_at=None,
            )
        return _record(SessionSettingsRecord, row)

    async def load_reminder_context(
        self, *, account_id: str, conversation_key: str
    ) -> ReminderContext:
        """Account, contact and settings for a reminder decision: one read transaction, one
        consistent snapshot, instead of three round trips on the worker's hot path."""
        async with self._read() as session:
            account = await session.get(AccountRow, account_id)
            contact = await session.scalar(
                select(ContactRow).where(
                    ContactRow.account_id == account_id,
                    ContactRow.conversation_key == conversation_key,
                )
            )
            settings = await self._settings_of(session, account_id)
            return ReminderContext(
                account=None if account is None else _record(Account, account),
                contact=None if contact is None else _record(Contact, contact),
                settings=settings,
            )

    async def save_session_settings(
        self,
        *,
        account_id: str,
        enabled: bool,
        expiry_hours: int,
        message: str,
        changed_by: str,
    ) -> SessionSettingsRecord:
        """Store new settings and append them to the history, in one transaction."""
        now = self._now()
        async with self._write() as session:
            if await session.get(AccountRow, account_id) is None:
                raise AccountNotFound(account_id)
            values = {"enabled": enabled, "expiry_hours": expiry_hours, "message": message}
            insert = self._insert(session, SessionSettingsRow).values(
                account_id=account_id, updated_at=now, **values
            )
            row = await session.scalar(
                insert.on_conflict_do_update(
                    index_elements=[SessionSettingsRow.account_id],
                    set_={**values, "updated_at": now},
                ).returning(SessionSettingsRow)
            )
            session.add(
                SettingsChangeRow(
                    account_id=account_id, changed_at=now, changed_by=changed_by, **values
                )
            )
            assert row is not None  # an upsert always returns its row
            return _record(SessionSettingsRecord, row)

    async def list_settings_changes(
        self, *, account_id: str, limit: int = 50
    ) -> list[SettingsChange]:
        """The settings history, newest first."""
        async with self._read() as session:
            rows = await session.scalars(
                select(SettingsChangeRow)
                .where(SettingsChangeRow.account_id == account_id)
                .order_by(SettingsChangeRow.changed_at.desc(), SettingsChangeRow.id.desc())
                .limit(limit)
            )
            return [_record(SettingsChange, row) for row in rows]

    # -- contacts ---------------------------------------------------------------------------

    async def record_profile_name(
        self,
        *,
        account_id: str,
        wa_id: str,
        conversation_key: str,
        profile_name: str | None,
    ) -> None:
        """Make sure a contact exists for a webhook's sender; refresh its WhatsApp profile name.

        One statement, so concurrent webhooks for the same customer cannot collide; the contact's
        own first/last name and email are never touched. This runs for every inbound message, so
        the common case (the contact exists, the name is unchanged) is a plain read: no write
        transaction, no wait for SQLite's single writer lock.
        """
        async with self._read() as session:
            stored = await session.execute(
                select(ContactRow.profile_name).where(
                    ContactRow.account_id == account_id, ContactRow.wa_id == wa_id
                )
            )
            row = stored.one_or_none()
        if row is not None and (profile_name is None or row.profile_name == profile_name):
            return
        now = self._now()
        async with self._write() as session:
            insert = self._insert(session, ContactRow).values(
                account_id=account_id,
                wa_id=wa_id,
                conversation_key=conversation_key,
                profile_name=profile_name,
                created_at=now,
                updated_at=now,
            )
            key = [ContactRow.account_id, ContactRow.wa_id]
            if profile_name is None:
                statement = insert.on_conflict_do_nothing(index_elements=key)
            else:
                statement = insert.on_conflict_do_update(
                    index_elements=key,
                    set_={"profile_name": profile_name, "updated_at": now},
                    # Skip the write (and the WAL traffic) when nothing changed: the common case.
                    where=ContactRow.profile_name.is_distinct_from(profile_name),
                )
            await session.execute(statement)

    async def upsert_contact(
        self,
        *,
        account_id: str,
        wa_id: str,
        conversation_key: str,
        first_name: str | None,
        last_name: str | None,
        email: str | None,
    ) -> tuple[Contact, bool]:
        """Create or replace a contact's merge-field data (keeps its profile name)."""
        now = self._now()
        async with self._write() as session:
            if await session.get(AccountRow, account_id) is None:
                raise AccountNotFound(account_id)
            fields = {"first_name": first_name, "last_name": last_name, "email": email}
            inserted = await session.scalar(
                self._insert(session, ContactRow)
                .values(
                    account_id=account_id,
                    wa_id=wa_id,
                    conversation_key=conversation_key,
                    created_at=now,
                    updated_at=now,
                    **fields,
                )
                .on_conflict_do_nothing(index_elements=[ContactRow.account_id, ContactRow.wa_id])
                .returning(ContactRow)
            )
            if inserted is not None:
                return _record(Contact, inserted), True
            updated = await session.scalar(
                update(ContactRow)
                .where(ContactRow.account_id == account_id, ContactRow.wa_id == wa_id)
                .values(updated_at=now, **fields)
                .returning(ContactRow)
            )
            assert updated is not None  # the insert conflicted, so the row exists
            return _record(Contact, updated), False

    async def get_contact(self, *, account_id: str, wa_id: str) -> Contact | None:
        async with self._read() as session:
            row = await session.get(ContactRow, (account_id, wa_id))
            return None if row is None else _record(Contact, row)

    async def get_contact_by_key(self, *, account_id: str, conversation_key: str) -> Contact | None:
        async with self._read() as session:
            row = await session.scalar(
                select(ContactRow).where(
                    ContactRow.account_id == account_id,
                    ContactRow.conversation_key == conversation_key,
                )
            )
            return None if row is None else _record(Contact, row)

    async def get_contacts_by_keys(
        self, *, account_id: str, conversation_keys: Sequence[str]
    ) -> dict[str, Contact]:
        if not conversation_keys:
            return {}
        async with self._read() as session:
            rows = await session.scalars(
                select(ContactRow).where(
                    ContactRow.account_id == account_id,
                    ContactRow.conversation_key.in_(set(conversation_keys)),
                )
            )
            return {row.conversation_key: _record(Contact, row) for row in rows}

    # -- reminders: the never-duplicate protocol -------------------------------------------

    async def claim_reminder(
        self,
        *,
        account_id: str,
        conversation_key: str,
        wa_id: str,
        last_customer_message_at: datetime,
        text: str,
        at: datetime | None = None,
    ) -> ReminderClaim:
        """Claim the right to send the reminder for the silence that began at T.

        ``acquired`` is True for exactly one caller per T (or per ``retrying`` release). When it
        is False, ``record`` is the existing idempotency record for the caller to interpret.
        """
        now = at or self._now()
        key = idempotency_key(
            conversation_key=conversation_key, last_customer_message_at=last_customer_message_at
        )
        async with self._write() as session:
            inserted = await session.scalar(
                self._insert(session, ReminderRow)
                .values(
                    reminder_id=str(uuid.uuid4()),
                    account_id=account_id,
                    conversation_key=conversation_key,
                    wa_id=wa_id,
                    last_customer_message_at=last_customer_message_at,
                    outcome=OUTCOME_PENDING,
                    idempotency_key=key,
                    text=text,
                    attempts=1,
                    decided_at=now,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=[ReminderRow.idempotency_key])
                .returning(ReminderRow)
            )
            if inserted is not None:
                return ReminderClaim(record=_record(ReminderRecord, inserted), acquired=True)

            # The condition on outcome is what makes a re-claim exclusive: PostgreSQL re-checks
            # it after waiting for a concurrent updater, SQLite runs writers one at a time.
            reclaimed = await session.scalar(
                update(ReminderRow)
                .where(
                    ReminderRow.idempotency_key == key,
                    ReminderRow.outcome == OUTCOME_RETRYING,
                )
                .values(
                    outcome=OUTCOME_PENDING,
                    attempts=ReminderRow.attempts + 1,
                    text=text,
                    decided_at=now,
                )
                .returning(ReminderRow)
            )
            if reclaimed is not None:
                return ReminderClaim(record=_record(ReminderRecord, reclaimed), acquired=True)

            existing = await session.scalar(
                select(ReminderRow).where(ReminderRow.idempotency_key == key)
            )
            assert existing is not None  # the insert conflicted on this key
            return ReminderClaim(record=_record(ReminderRecord, existing), acquired=False)

    async def finish_reminder(
        self,
        *,
        reminder_id: str,
        outcome: str,
        reason: str | None = None,
        error_code: int | None = None,
        message_id: str | None = None,
        at: datetime | None = None,
    ) -> ReminderRecord:
        """Record the final outcome of a claimed send.

        If a status webhook overtook the sender and already recorded a final outcome, that
        evidence is kept; only a missing message id is filled in. Raises ``ReminderNotFound``.
        """
        _check_outcome(outcome)
        if outcome in (OUTCOME_PENDING, OUTCOME_RETRYING):
            raise ValueError(f"{outcome!r} is not a final outcome")
        now = at or self._now()
        async with self._write() as session:
            row = await self._locked_reminder(session, reminder_id)
            if row.outcome in _FINISHABLE_OUTCOMES:
                row.outcome = outcome
                row.reason = reason
                row.error_code = error_code
                row.decided_at = now
                if message_id is not None:
                    row.message_id = message_id
            elif row.message_id is None and message_id is not None:
                row.message_id = message_id
            await session.flush()
            return _record(ReminderRecord, row)

    async def release_reminder(
        self,
        *,
        reminder_id: str,
        reason: str,
        error_code: int | None = None,
        at: datetime | None = None,
    ) -> None:
        """Mark a claimed send as certainly not sent, so that a retry may claim it again."""
        now = at or self._now()
        async with self._write() as session:
            await session.execute(
                update(ReminderRow)
                .where(
                    ReminderRow.reminder_id == reminder_id,
                    # Never reopen a decided record: that could turn into a second send.
                    ReminderRow.outcome.in_([OUTCOME_PENDING, OUTCOME_RETRYING]),
                )
                .values(
                    outcome=OUTCOME_RETRYING, reason=reason, error_code=error_code, decided_at=now
                )
            )

    async def record_decision(
        self,
        *,
        account_id: str,
        conversation_key: str,
        wa_id: str,
        last_customer_message_at: datetime,
        outcome: str,
        reason: str | None,
        text: str | None = None,
        at: datetime | None = None,
    ) -> ReminderRecord:
        """Append a decision that never claimed a send (e.g. ``skipped_disabled``)."""
        _check_outcome(outcome)
        now = at or self._now()
        async with self._write() as session:
            row = ReminderRow(
                reminder_id=str(uuid.uuid4()),
                account_id=account_id,
                conversation_key=conversation_key,
                wa_id=wa_id,
                last_customer_message_at=last_customer_message_at,
                outcome=outcome,
                idempotency_key=None,
                reason=reason,
                text=text,
                attempts=0,
                decided_at=now,
                created_at=now,
            )
            session.add(row)
            await session.flush()
            return _record(ReminderRecord, row)

    async def apply_delivery_status(
        self,
        *,
        message_id: str | None,
        reminder_id: str | None,
        status: str,
        at: datetime,
        error_code: int | None,
        error_message: str | None,
    ) -> ReminderRecord | None:
        """Fold one status webhook into the reminder it is about; None if it is about none.

        Delivery states only move forward (sent < delivered < read), so duplicated and
        out-of-order webhooks change nothing. ``failed`` counts only before delivery and is
        itself final.
        """
        if status not in DELIVERY_STATUSES:
            raise ValueError(f"unknown delivery status {status!r}")
        async with self._write() as session:
            row = await self._find_for_status(
                session, message_id=message_id, reminder_id=reminder_id
            )
            if row is None:
                return None

            if _delivery_advances(current=row.delivery_status, new=status):
                row.delivery_status = status
                row.delivery_updated_at = at
                if status == DELIVERY_FAILED:
                    row.error_code = error_code
                    row.reason = error_message
                    if error_code == WINDOW_CLOSED_ERROR_CODE:
                        row.outcome = OUTCOME_FAILED_WINDOW_CLOSED
                    elif row.outcome in _UNPROVEN_OUTCOMES:
                        # A status exists only for a message Meta accepted: it left, then failed.
                        row.outcome = OUTCOME_FAILED

            # Any non-failed status proves the message went out, even a stale duplicate.
            if status != DELIVERY_FAILED and row.outcome in _UNPROVEN_OUTCOMES:
                row.outcome = OUTCOME_SENT
            if row.message_id is None and message_id is not None:
                row.message_id = message_id
            await session.flush()
            return _record(ReminderRecord, row)

    async def _find_for_status(
        self, session: AsyncSession, *, message_id: str | None, reminder_id: str | None
    ) -> ReminderRow | None:
        if reminder_id is not None:
            row = await session.scalar(
                self._lock(
                    session, select(ReminderRow).where(ReminderRow.reminder_id == reminder_id)
                )
            )
            if row is not None:
                return row
        if message_id is not None:
            return await session.scalar(
                self._lock(
                    session,
                    select(ReminderRow)
                    .where(ReminderRow.message_id == message_id)
                    .order_by(ReminderRow.created_at.desc())
                    .limit(1),
                )
            )
        return None

    async def _locked_reminder(self, session: AsyncSession, reminder_id: str) -> ReminderRow:
        row = await session.scalar(
            self._lock(session, select(ReminderRow).where(ReminderRow.reminder_id == reminder_id))
        )
        if row is None:
            raise ReminderNotFound(reminder_id)
        return row

    def _lock(self, session: AsyncSession, statement: _SelectT) -> _SelectT:
        # SQLite has no row locks; its writers are already serialised by BEGIN IMMEDIATE.
        return statement.with_for_update() if self._is_postgres(session) else statement

    # -- reminders: reading the audit trail -------------------------------------------------

    async def list_reminders(
        self,
        *,
        account_id: str,
        limit: int = 50,
        cursor: str | None = None,
        wa_id: str | None = None,
    ) -> ReminderPage:
        """One page of the account's audit trail, newest decision first."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        conditions: list[ColumnElement[bool]] = [ReminderRow.account_id == account_id]
        if wa_id is not None:
            conditions.append(ReminderRow.wa_id == wa_id)
        if cursor is not None:
            after_at, after_id = _decode_cursor(cursor)
            conditions.append(
                or_(
                    ReminderRow.decided_at < after_at,
                    and_(ReminderRow.decided_at == after_at, ReminderRow.reminder_id < after_id),
                )
            )
        async with self._read() as session:
            rows = list(
                await session.scalars(
                    select(ReminderRow)
                    .where(*conditions)
                    .order_by(ReminderRow.decided_at.desc(), ReminderRow.reminder_id.desc())
                    .limit(limit + 1)
                )
            )
        items = [_record(ReminderRecord, row) for row in rows[:limit]]
        next_cursor = _encode_cursor(items[-1]) if len(rows) > limit else None
        return ReminderPage(items=items, next_cursor=next_cursor)

    async def get_reminder(self, *, reminder_id: str) -> ReminderRecord | None:
        async with self._read() as session:
            row = await session.get(ReminderRow, reminder_id)
            return None if row is None else _record(ReminderRecord, row)

    async def latest_reminders_by_key(
        self, *, account_id: str, conversation_keys: Sequence[str]
    ) -> dict[str, ReminderRecord]:
        """The newest reminder record of each given conversation (absent keys have none)."""
        if not conversation_keys:
            return {}
        newest_first = func.row_number().over(
            partition_by=ReminderRow.conversation_key,
            order_by=(ReminderRow.decided_at.desc(), ReminderRow.reminder_id.desc()),
        )
        ranked = (
            select(ReminderRow.reminder_id, newest_first.label("rank"))
            .where(
                ReminderRow.account_id == account_id,
                ReminderRow.conversation_key.in_(set(conversation_keys)),
            )
            .subquery()
        )
        async with self._read() as session:
            rows = await session.scalars(
                select(ReminderRow).join(
                    ranked,
                    and_(ranked.c.reminder_id == ReminderRow.reminder_id, ranked.c.rank == 1),
                )
            )
            return {row.conversation_key: _record(ReminderRecord, row) for row in rows}


def _delivery_advances(*, current: str | None, new: str) -> bool:
    """Whether a status webhook moves the delivery state forward."""
    if current == DELIVERY_FAILED:
        return False
    if new == DELIVERY_FAILED:
        # Meta reports failure before delivery; after "delivered" it would contradict itself.
        return current is None or current == DELIVERY_SENT
    return _DELIVERY_RANK[new] > (0 if current is None else _DELIVERY_RANK[current])


# -- cursors ----------------------------------------------------------------------------------


def _encode_cursor(record: ReminderRecord) -> str:
    payload = json.dumps([record.decided_at.isoformat(), record.reminder_id])
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        at_text, reminder_id = decoded
        at = datetime.fromisoformat(at_text)
        if not isinstance(reminder_id, str) or at.tzinfo is None:
            raise ValueError("malformed cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeError) as error:
        raise InvalidCursor("invalid pagination cursor") from error
    return at, reminder_id


# -- row → record -----------------------------------------------------------------------------


def _check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown reminder outcome {outcome!r}")


def _record(kind: type[_R], row: object) -> _R:
    """The frozen record of a row: records name their fields after the ORM columns."""
    return kind(**{field.name: getattr(row, field.name) for field in dataclasses.fields(kind)})
