"""Reminders: the audit trail, which doubles as the idempotency record of every send.

One record per silence that reached the send activity, keyed by (conversation, T)
(docs/sending.md#the-idempotency-record)::

    claim ─ acquired ─▶ send ─┬─ finish(sent / failed / ...)
      │                       ├─ mark_ambiguous    the request may have left: wait for proof
      │                       └─ release           it certainly did not leave
      └─ not acquired: the existing record says what happened (a decision → reuse it;
         ``pending`` → an earlier attempt died mid-send → ambiguous, like a timeout)

    ambiguous ─ a status webhook arrives ─▶ sent / failed (``apply_status``)
              └ no proof within the wait ─▶ reclaim_ambiguous → send again, same reminder id

A ``retrying`` (or ``skipped_disabled``) record is claimed again, an ``ambiguous`` one
reclaimed, through conditional UPDATEs, so two racing workers cannot both win; writes of an
attempt carry its number, so a stale attempt cannot overwrite a newer one. ``close_silence``
gives a record still in flight its final outcome when its silence ends. Writers that read
before writing lock the row (``FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite, see
``store.db``). What status webhooks do to a record is ``core.delivery``'s rules.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.delivery import (
    FINISHABLE_OUTCOMES,
    Delivery,
    StatusReport,
    fold_status,
    sender_may_finish,
)
from core.vocabulary import (
    DECISIONS,
    IN_FLIGHT_OUTCOMES,
    DeliveryStatus,
    ReminderOutcome,
)
from store.errors import InvalidCursor, ReminderNotFound
from store.models import AccountRow, ContactRow, ReminderRow, SessionSettingsRow
from store.records import (
    Account,
    Contact,
    ReminderClaim,
    ReminderContext,
    ReminderPage,
    ReminderRecord,
    SessionSettingsRecord,
)
from store.settings import DEFAULT_SETTINGS
from store.transactions import Transactions, insert, locked, to_record

# Records a new attempt may take over: nothing was sent, and no status says otherwise.
_CLAIMABLE_AGAIN = (ReminderOutcome.RETRYING, ReminderOutcome.SKIPPED_DISABLED)
# Records the sender's own answer may still finish (``core.delivery.sender_may_finish``).
_FINISHABLE = tuple(sorted(FINISHABLE_OUTCOMES))


def _current(row: ReminderRow, attempt: int | None) -> bool:
    """Whether a write of ``attempt`` still speaks for the record (no later claim took over)."""
    return attempt is None or row.attempts == attempt


def idempotency_key(*, conversation_key: str, last_customer_message_at: datetime) -> str:
    """The key of "one reminder per silence": the conversation and its T, normalised to UTC."""
    return f"{conversation_key}:{last_customer_message_at.astimezone(UTC).isoformat()}"


def _new_row(
    *,
    account_id: str,
    conversation_key: str,
    wa_id: str | None,
    user_id: str | None,
    last_customer_message_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    """The columns every new record of a silence starts with: a fresh id, whom it is about, and
    the silence's idempotency key."""
    return {
        "reminder_id": str(uuid.uuid4()),
        "account_id": account_id,
        "conversation_key": conversation_key,
        "wa_id": wa_id,
        "user_id": user_id,
        "last_customer_message_at": last_customer_message_at,
        "idempotency_key": idempotency_key(
            conversation_key=conversation_key, last_customer_message_at=last_customer_message_at
        ),
        "created_at": now,
    }


class Reminders:
    """Data access for reminder records.

    The write methods take an optional ``at``: the send activity stamps its decisions with its
    own clock (the time-skipping server's in tests), so "decided at" is the decision's time.
    """

    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    # -- what the send activity reads -------------------------------------------------------

    async def load_context(self, *, account_id: str, conversation_key: str) -> ReminderContext:
        """Account, contact and settings for a reminder decision, in one statement."""
        async with self._tx.read() as tx:
            return await _context(tx, account_id, conversation_key)

    # -- the never-duplicate protocol -------------------------------------------------------

    async def claim(
        self,
        *,
        account_id: str,
        conversation_key: str,
        wa_id: str | None,
        last_customer_message_at: datetime,
        text: str,
        user_id: str | None = None,
        at: datetime | None = None,
    ) -> ReminderClaim:
        """Claim the right to send the reminder for the silence that began at T.

        ``acquired`` is True for exactly one caller per T (or per ``retrying`` release, or per
        ``skipped_disabled`` decision once reminders are enabled again). When it is False,
        ``record`` is the existing idempotency record for the caller to interpret.
        """
        now = self._tx.now(at)
        new = _new_row(
            account_id=account_id,
            conversation_key=conversation_key,
            wa_id=wa_id,
            user_id=user_id,
            last_customer_message_at=last_customer_message_at,
            now=now,
        )
        async with self._tx.write() as tx:
            return await _claim(tx, new, text=text, now=now)

    async def claim_with_context(
        self,
        *,
        account_id: str,
        conversation_key: str,
        last_customer_message_at: datetime,
        compose: Callable[[ReminderContext], str | None],
        at: datetime | None = None,
    ) -> tuple[ReminderContext, ReminderClaim | None]:
        """Read what a reminder decision needs and claim the silence, in one transaction.

        ``compose`` gets the context and returns the text to send, or None when the context
        says not to send now (no claim is made then, and the caller decides what to record).
        The send activity's hot path: one transaction before the request, one after.
        """
        now = self._tx.now(at)
        async with self._tx.write() as tx:
            context = await _context(tx, account_id, conversation_key)
            text = compose(context)
            if text is None:
                return context, None
            contact = context.contact
            new = _new_row(
                account_id=account_id,
                conversation_key=conversation_key,
                wa_id=None if contact is None else contact.wa_id,
                user_id=None if contact is None else contact.recipient,
                last_customer_message_at=last_customer_message_at,
                now=now,
            )
            return context, await _claim(tx, new, text=text, now=now)

    async def finish(
        self,
        *,
        reminder_id: str,
        outcome: ReminderOutcome,
        reason: str | None = None,
        error_code: int | None = None,
        message_id: str | None = None,
        attempt: int | None = None,
        at: datetime | None = None,
    ) -> ReminderRecord:
        """Record the decision of a claimed send.

        If a status webhook overtook the sender and already recorded a decision, that evidence
        is kept; only a missing message id is filled in. ``attempt`` (the claim's ``attempts``)
        makes the write conditional on no later claim having taken over. Raises
        ``ReminderNotFound``.
        """
        if outcome not in DECISIONS:
            raise ValueError(f"{outcome!r} is not a decision")
        now = self._tx.now(at)
        decided: dict[str, Any] = {
            "outcome": outcome,
            "reason": reason,
            "error_code": error_code,
            "decided_at": now,
        }
        if message_id is not None:
            decided["message_id"] = message_id
        conditions = [
            ReminderRow.reminder_id == reminder_id,
            ReminderRow.outcome.in_(_FINISHABLE),
        ]
        if attempt is not None:
            conditions.append(ReminderRow.attempts == attempt)
        async with self._tx.write() as tx:
            # The usual case in one statement: the record is still this attempt's to finish.
            finished = await tx.scalar(
                update(ReminderRow).where(*conditions).values(**decided).returning(ReminderRow)
            )
            if finished is not None:
                return to_record(ReminderRecord, finished)
            row = await _locked_reminder(tx, reminder_id)
            if sender_may_finish(ReminderOutcome(row.outcome)) and _current(row, attempt):
                row.outcome = outcome
                row.reason = reason
                row.error_code = error_code
                row.decided_at = now
                if message_id is not None:
                    row.message_id = message_id
            elif row.message_id is None and message_id is not None:
                row.message_id = message_id
            await tx.flush()
            return to_record(ReminderRecord, row)

    async def release(
        self,
        *,
        reminder_id: str,
        reason: str,
        error_code: int | None = None,
        attempt: int | None = None,
        at: datetime | None = None,
    ) -> None:
        """Mark a claimed send as certainly not sent, so that a retry may claim it again."""
        await self._move_pending(
            reminder_id,
            to=ReminderOutcome.RETRYING,
            reason=reason,
            error_code=error_code,
            attempt=attempt,
            at=at,
        )

    async def mark_ambiguous(
        self,
        *,
        reminder_id: str,
        reason: str,
        error_code: int | None = None,
        attempt: int | None = None,
        at: datetime | None = None,
    ) -> None:
        """The claimed send may have reached Meta: wait for proof before any new attempt.

        ``decided_at`` becomes the time of the ambiguous attempt, from which the wait counts.
        """
        await self._move_pending(
            reminder_id,
            to=ReminderOutcome.AMBIGUOUS,
            reason=reason,
            error_code=error_code,
            attempt=attempt,
            at=at,
        )

    async def _move_pending(
        self,
        reminder_id: str,
        *,
        to: ReminderOutcome,
        reason: str,
        error_code: int | None,
        attempt: int | None,
        at: datetime | None,
    ) -> None:
        now = self._tx.now(at)
        conditions = [
            ReminderRow.reminder_id == reminder_id,
            # Only the attempt's own claim: never reopen a decided record (that could turn into
            # a second send), never touch evidence a status webhook wrote.
            ReminderRow.outcome == ReminderOutcome.PENDING,
        ]
        if attempt is not None:
            conditions.append(ReminderRow.attempts == attempt)
        async with self._tx.write() as tx:
            await tx.execute(
                update(ReminderRow)
                .where(*conditions)
                .values(outcome=to, reason=reason, error_code=error_code, decided_at=now)
            )

    async def reclaim_ambiguous(
        self, *, reminder_id: str, at: datetime | None = None
    ) -> ReminderRecord | None:
        """Take an ambiguous record back for one more attempt (no proof came within the wait).

        None when it is no longer ambiguous: a status arrived (it was sent, or failed), or
        another attempt reclaimed it first.
        """
        now = self._tx.now(at)
        async with self._tx.write() as tx:
            row = await tx.scalar(
                update(ReminderRow)
                .where(
                    ReminderRow.reminder_id == reminder_id,
                    ReminderRow.outcome == ReminderOutcome.AMBIGUOUS,
                    ReminderRow.delivery_status.is_(None),
                )
                .values(
                    outcome=ReminderOutcome.PENDING,
                    attempts=ReminderRow.attempts + 1,
                    decided_at=now,
                )
                .returning(ReminderRow)
            )
            return None if row is None else to_record(ReminderRecord, row)

    async def close_silence(
        self,
        *,
        conversation_key: str,
        last_customer_message_at: datetime,
        not_sent: ReminderOutcome,
        reason: str,
        at: datetime | None = None,
    ) -> ReminderRecord | None:
        """Give the silence's record its final outcome if it is still in flight.

        Its silence is over (the customer wrote again, the window closed, the workflow gave
        up): a record that certainly did not send (``retrying``) becomes ``not_sent``; one that
        may have (``pending``, ``ambiguous``) becomes ``unknown``, which a late status webhook
        still turns into ``sent``. A decided record is returned as it is; None when there is
        no record at all.
        """
        if not_sent not in DECISIONS:
            raise ValueError(f"{not_sent!r} is not a decision")
        now = self._tx.now(at)
        key = idempotency_key(
            conversation_key=conversation_key, last_customer_message_at=last_customer_message_at
        )
        async with self._tx.write() as tx:
            row = await tx.scalar(
                locked(tx, select(ReminderRow).where(ReminderRow.idempotency_key == key))
            )
            if row is None:
                return None
            outcome = ReminderOutcome(row.outcome)
            if outcome in IN_FLIGHT_OUTCOMES:
                row.outcome = (
                    not_sent if outcome is ReminderOutcome.RETRYING else ReminderOutcome.UNKNOWN
                )
                row.reason = reason
                row.decided_at = now
                await tx.flush()
            return to_record(ReminderRecord, row)

    async def record_decision(
        self,
        *,
        account_id: str,
        conversation_key: str,
        wa_id: str | None,
        last_customer_message_at: datetime,
        outcome: ReminderOutcome,
        reason: str | None,
        text: str | None = None,
        user_id: str | None = None,
        at: datetime | None = None,
    ) -> ReminderRecord:
        """Record a decision that sends nothing (``skipped_disabled``, ``failed`` for a contact
        that cannot be sent to) on the silence's one record.

        The record is created, or updated while it is ``retrying`` or ``skipped_disabled``;
        a record that may have sent, or holds another decision, is returned unchanged.
        """
        if outcome not in DECISIONS:
            raise ValueError(f"{outcome!r} is not a decision")
        now = self._tx.now(at)
        new = _new_row(
            account_id=account_id,
            conversation_key=conversation_key,
            wa_id=wa_id,
            user_id=user_id,
            last_customer_message_at=last_customer_message_at,
            now=now,
        )
        key = new["idempotency_key"]
        values = {"outcome": outcome, "reason": reason, "text": text, "decided_at": now}
        async with self._tx.write() as tx:
            row = await tx.scalar(
                insert(tx, ReminderRow)
                .values(**new, attempts=0, **values)
                .on_conflict_do_update(
                    index_elements=[ReminderRow.idempotency_key],
                    set_=values,
                    where=ReminderRow.outcome.in_(_CLAIMABLE_AGAIN),
                )
                .returning(ReminderRow)
            )
            if row is None:  # the existing record holds what must not be overwritten
                row = await tx.scalar(select(ReminderRow).where(ReminderRow.idempotency_key == key))
            assert row is not None
            return to_record(ReminderRecord, row)

    # -- status webhooks --------------------------------------------------------------------

    async def apply_status(
        self,
        *,
        account_id: str,
        message_id: str | None,
        reminder_id: str | None,
        status: DeliveryStatus,
        at: datetime,
        error_code: int | None,
        error_message: str | None,
    ) -> ReminderRecord | None:
        """Fold one status webhook into the reminder it is about; None if it is about none.

        Only a reminder of ``account_id`` (the account whose business number received the
        webhook) is looked at: message ids and callback data come from the body, and a status
        under one account must never touch another account's audit trail. Duplicated and
        out-of-order webhooks change nothing (``core.delivery.fold_status``).
        """
        status = DeliveryStatus(status)
        async with self._tx.write() as tx:
            row = await _find_for_status(
                tx, account_id=account_id, message_id=message_id, reminder_id=reminder_id
            )
            if row is None:
                return None
            folded, advanced = fold_status(
                Delivery(
                    outcome=ReminderOutcome(row.outcome),
                    delivery_status=None
                    if row.delivery_status is None
                    else DeliveryStatus(row.delivery_status),
                    error_code=row.error_code,
                    reason=row.reason,
                ),
                StatusReport(status=status, error_code=error_code, error_message=error_message),
            )
            row.outcome = folded.outcome
            row.delivery_status = folded.delivery_status
            row.error_code = folded.error_code
            row.reason = folded.reason
            if advanced:
                row.delivery_updated_at = at
            if row.message_id is None and message_id is not None:
                row.message_id = message_id
            await tx.flush()
            return to_record(ReminderRecord, row)

    # -- reading the audit trail ------------------------------------------------------------

    async def page(
        self,
        *,
        account_id: str,
        limit: int = 50,
        cursor: str | None = None,
        conversation_key: str | None = None,
    ) -> ReminderPage:
        """One page of the account's audit trail, newest decision first; ``conversation_key``
        keeps one customer's."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        conditions: list[ColumnElement[bool]] = [ReminderRow.account_id == account_id]
        if conversation_key is not None:
            conditions.append(ReminderRow.conversation_key == conversation_key)
        if cursor is not None:
            after_at, after_id = _decode_cursor(cursor)
            conditions.append(
                or_(
                    ReminderRow.decided_at < after_at,
                    and_(ReminderRow.decided_at == after_at, ReminderRow.reminder_id < after_id),
                )
            )
        async with self._tx.read() as tx:
            rows = list(
                await tx.scalars(
                    select(ReminderRow)
                    .where(*conditions)
                    .order_by(ReminderRow.decided_at.desc(), ReminderRow.reminder_id.desc())
                    .limit(limit + 1)
                )
            )
        items = [to_record(ReminderRecord, row) for row in rows[:limit]]
        next_cursor = _encode_cursor(items[-1]) if len(rows) > limit else None
        return ReminderPage(items=items, next_cursor=next_cursor)

    async def latest_by_key(
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
        async with self._tx.read() as tx:
            rows = await tx.scalars(
                select(ReminderRow).join(
                    ranked,
                    and_(ranked.c.reminder_id == ReminderRow.reminder_id, ranked.c.rank == 1),
                )
            )
            return {row.conversation_key: to_record(ReminderRecord, row) for row in rows}


async def _find_for_status(
    tx: AsyncSession, *, account_id: str, message_id: str | None, reminder_id: str | None
) -> ReminderRow | None:
    """The account's reminder a status names: by our callback data, else by Meta's message id."""
    if reminder_id is not None:
        row = await tx.scalar(
            locked(
                tx,
                select(ReminderRow).where(
                    ReminderRow.reminder_id == reminder_id, ReminderRow.account_id == account_id
                ),
            )
        )
        if row is not None:
            return row
    if message_id is not None:
        return await tx.scalar(
            locked(
                tx,
                select(ReminderRow)
                .where(ReminderRow.message_id == message_id, ReminderRow.account_id == account_id)
                .order_by(ReminderRow.created_at.desc())
                .limit(1),
            )
        )
    return None


async def _locked_reminder(tx: AsyncSession, reminder_id: str) -> ReminderRow:
    row = await tx.scalar(
        locked(tx, select(ReminderRow).where(ReminderRow.reminder_id == reminder_id))
    )
    if row is None:
        raise ReminderNotFound(reminder_id)
    return row


async def _context(tx: AsyncSession, account_id: str, conversation_key: str) -> ReminderContext:
    """Account, settings and the conversation's contact: one SELECT, one consistent snapshot."""
    result = await tx.execute(
        select(AccountRow, SessionSettingsRow, ContactRow)
        .outerjoin(SessionSettingsRow, SessionSettingsRow.account_id == AccountRow.account_id)
        .outerjoin(
            ContactRow,
            and_(
                ContactRow.account_id == AccountRow.account_id,
                ContactRow.conversation_key == conversation_key,
            ),
        )
        .where(AccountRow.account_id == account_id)
    )
    found = result.one_or_none()
    if found is None:
        return ReminderContext(account=None, contact=None, settings=None)
    account, settings, contact = found
    return ReminderContext(
        account=to_record(Account, account),
        contact=None if contact is None else to_record(Contact, contact),
        settings=DEFAULT_SETTINGS
        if settings is None
        else to_record(SessionSettingsRecord, settings),
    )


async def _claim(
    tx: AsyncSession, new: dict[str, Any], *, text: str, now: datetime
) -> ReminderClaim:
    """Insert the silence's record as ``pending``, or take a claimable one over, or return the
    record as it is (not acquired)."""
    key = new["idempotency_key"]
    inserted = await tx.scalar(
        insert(tx, ReminderRow)
        .values(**new, outcome=ReminderOutcome.PENDING, text=text, attempts=1, decided_at=now)
        .on_conflict_do_nothing(index_elements=[ReminderRow.idempotency_key])
        .returning(ReminderRow)
    )
    if inserted is not None:
        return ReminderClaim(record=to_record(ReminderRecord, inserted), acquired=True)

    # The condition on outcome is what makes a re-claim exclusive: PostgreSQL re-checks it
    # after waiting for a concurrent updater, SQLite runs writers one at a time.
    reclaimed = await tx.scalar(
        update(ReminderRow)
        .where(
            ReminderRow.idempotency_key == key,
            ReminderRow.outcome.in_(_CLAIMABLE_AGAIN),
            # A status proves an earlier send: never again, whatever the outcome says.
            ReminderRow.delivery_status.is_(None),
        )
        .values(
            outcome=ReminderOutcome.PENDING,
            attempts=ReminderRow.attempts + 1,
            text=text,
            decided_at=now,
        )
        .returning(ReminderRow)
    )
    if reclaimed is not None:
        return ReminderClaim(record=to_record(ReminderRecord, reclaimed), acquired=True)

    existing = await tx.scalar(select(ReminderRow).where(ReminderRow.idempotency_key == key))
    assert existing is not None  # the insert conflicted on this key
    return ReminderClaim(record=to_record(ReminderRecord, existing), acquired=False)


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
