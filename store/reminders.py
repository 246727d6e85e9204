"""Reminders: the audit trail, which doubles as the idempotency record of every send.

One record per silence that reached the send activity, keyed by (conversation, T)
(docs/sending.md#the-idempotency-record)::

    claim ─ acquired ─▶ send ─┬─ finish(sent / failed / ...)
      │                       ├─ mark_ambiguous    the request may have left: wait for proof
      │                       └─ release           it certainly did not leave
      └─ not acquired: the existing record says what happened (a decision → reuse it;
         ``pending`` → an earlier attempt died mid-send → ambiguous, like a timeout)

    ambiguous ─ a status webhook arrives ─▶ sent / failed (``apply_statuses``)
              └ no proof within the wait ─▶ reclaim_ambiguous → send again, same reminder id

A ``retrying`` (or ``skipped_disabled``) record is claimed again, an ``ambiguous`` one
reclaimed, through conditional UPDATEs, so two racing workers cannot both win; writes of an
attempt carry its number, so a stale attempt cannot overwrite a newer one. ``close_silence``
gives a record still in flight its final outcome when its silence ends. Writers that read
before writing lock the row (``FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite, see
``store.db``). What status webhooks do to a record is ``core.delivery``'s rules, folded a few
hundred statuses per transaction (``apply_statuses``).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, union, update
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
    SendKind,
)
from store.errors import InvalidCursor, ReminderNotFound
from store.models import AccountRow, ContactRow, ReminderRow, SessionSettingsRow
from store.records import (
    Account,
    Composed,
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


def idempotency_key(
    *,
    conversation_key: str,
    last_customer_message_at: datetime,
    kind: SendKind = SendKind.REMINDER,
) -> str:
    """The key of "one reminder per silence": the conversation and its T, normalised to UTC;
    the template sent when that silence's window closed has its own ("…:template")."""
    key = f"{conversation_key}:{last_customer_message_at.astimezone(UTC).isoformat()}"
    return key if kind is SendKind.REMINDER else f"{key}:{kind.value}"


def _new_row(
    *,
    account_id: str,
    conversation_key: str,
    wa_id: str | None,
    user_id: str | None,
    last_customer_message_at: datetime,
    now: datetime,
    kind: SendKind = SendKind.REMINDER,
    nominal_due_at: datetime | None = None,
    send_at: datetime | None = None,
) -> dict[str, Any]:
    """The columns every new record of a silence starts with: a fresh id, whom it is about, what
    it is, and the silence's idempotency key."""
    return {
        "reminder_id": str(uuid.uuid4()),
        "account_id": account_id,
        "conversation_key": conversation_key,
        "wa_id": wa_id,
        "user_id": user_id,
        "last_customer_message_at": last_customer_message_at,
        "idempotency_key": idempotency_key(
            conversation_key=conversation_key,
            last_customer_message_at=last_customer_message_at,
            kind=kind,
        ),
        "kind": kind,
        "nominal_due_at": nominal_due_at,
        "send_at": send_at,
        "created_at": now,
    }


# Statuses folded in one write transaction (``Reminders.apply_statuses``): a few hundred keep
# the transaction short (SQLite has one writer; PostgreSQL holds the rows' locks until commit).
STATUS_CHUNK = 500


@dataclass(frozen=True, slots=True)
class StatusWebhook:
    """One status webhook, as ``Reminders.apply_statuses`` takes it: the reminder it may be
    about (our callback data, Meta's message id) and what it reports."""

    message_id: str | None
    reminder_id: str | None
    status: DeliveryStatus
    at: datetime
    error_code: int | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        # A word Meta may add one day is refused here, before any transaction starts.
        object.__setattr__(self, "status", DeliveryStatus(self.status))


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
        kind: SendKind = SendKind.REMINDER,
    ) -> ReminderClaim:
        """Claim the right to send the reminder (or template) for the silence that began at T.

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
            kind=kind,
        )
        async with self._tx.write() as tx:
            return await _claim(tx, new, text=text, now=now)

    async def claim_with_context(
        self,
        *,
        account_id: str,
        conversation_key: str,
        last_customer_message_at: datetime,
        compose: Callable[[ReminderContext], Composed | None],
        at: datetime | None = None,
        kind: SendKind = SendKind.REMINDER,
    ) -> tuple[ReminderContext, ReminderClaim | None]:
        """Read what a reminder decision needs and claim the silence, in one transaction.

        ``compose`` gets the context and returns what to send, or None when the context says
        not to send now (no claim is made then, and the caller decides what to record).
        The send activity's hot path: one transaction before the request, one after.
        """
        now = self._tx.now(at)

        async def read_and_claim(tx: AsyncSession) -> tuple[ReminderContext, ReminderClaim | None]:
            context = await _context(tx, account_id, conversation_key)
            composed = compose(context)
            if composed is None:
                return context, None
            contact = context.contact
            new = _new_row(
                account_id=account_id,
                conversation_key=conversation_key,
                wa_id=None if contact is None else contact.wa_id,
                user_id=None if contact is None else contact.recipient,
                last_customer_message_at=last_customer_message_at,
                now=now,
                kind=kind,
                nominal_due_at=composed.nominal_due_at,
                send_at=composed.send_at,
            )
            return context, await _claim(tx, new, text=composed.text, now=now)

        # Shared with the claims and finishes of the moment: a burst of due reminders is
        # hundreds of these at once.
        return await self._tx.shared(read_and_claim)

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

        async def finish_in(tx: AsyncSession) -> ReminderRecord:
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

        return await self._tx.shared(finish_in)

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
        kind: SendKind = SendKind.REMINDER,
    ) -> ReminderRecord | None:
        """Give the silence's record (of ``kind``) its final outcome if it is still in flight.

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
            conversation_key=conversation_key,
            last_customer_message_at=last_customer_message_at,
            kind=kind,
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

    async def record_reply(
        self, *, reminder_id: str, sent_at: datetime, replied_at: datetime
    ) -> bool | None:
        """The customer replied at ``replied_at`` to the reminder sent at ``sent_at``.

        Kept once per reminder, as its earliest reply: a reply the record already has, or a
        later one, changes nothing, so redelivered webhooks and retried activities are
        harmless, and a reply that arrives out of order moves the time back. True when this
        is the reminder's first reply, False when it was known already, None when no such
        reminder exists (its account was deleted).
        """
        seconds = max(int((replied_at - sent_at).total_seconds()), 0)
        earliest = {"replied_at": replied_at, "reply_seconds": seconds}
        async with self._tx.write() as tx:
            first = await tx.execute(
                update(ReminderRow)
                .where(ReminderRow.reminder_id == reminder_id, ReminderRow.replied_at.is_(None))
                .values(**earliest)
            )
            if getattr(first, "rowcount", 0) == 1:
                return True
            await tx.execute(
                update(ReminderRow)
                .where(ReminderRow.reminder_id == reminder_id, ReminderRow.replied_at > replied_at)
                .values(**earliest)
            )
            exists = await tx.scalar(
                select(ReminderRow.reminder_id).where(ReminderRow.reminder_id == reminder_id)
            )
            return None if exists is None else False

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
        kind: SendKind = SendKind.REMINDER,
        nominal_due_at: datetime | None = None,
        send_at: datetime | None = None,
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
            kind=kind,
            nominal_due_at=nominal_due_at,
            send_at=send_at,
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

        ``apply_statuses`` with one item.
        """
        (record,) = await self.apply_statuses(
            account_id=account_id,
            statuses=[
                StatusWebhook(
                    message_id=message_id,
                    reminder_id=reminder_id,
                    status=status,
                    at=at,
                    error_code=error_code,
                    error_message=error_message,
                )
            ],
        )
        return record

    async def apply_statuses(
        self, *, account_id: str, statuses: Sequence[StatusWebhook]
    ) -> list[ReminderRecord | None]:
        """Fold status webhooks into the reminders they are about, in the given order; for each
        status, the record just after it, or None if it is about no reminder.

        Only reminders of ``account_id`` (the account whose business number received the
        webhooks) are looked at: message ids and callback data come from the body, and a status
        under one account must never touch another account's audit trail. Duplicated and
        out-of-order webhooks change nothing (``core.delivery.fold_status``).

        ``STATUS_CHUNK`` statuses share one write transaction, which reads (and locks) all the
        reminders they may name in one statement and folds each status in memory, in order:
        the result is the same as one transaction per status, which let a 3 MiB POST (≈ 11,000
        statuses) take 22 s (BENCHMARKS.md#a-post-of-statuses-only). A failure leaves the earlier
        chunks applied; applying them again, on Meta's redelivery, changes nothing.
        """
        results: list[ReminderRecord | None] = []
        for start in range(0, len(statuses), STATUS_CHUNK):
            chunk = statuses[start : start + STATUS_CHUNK]
            async with self._tx.write() as tx:
                results.extend(await _fold_statuses(tx, account_id=account_id, statuses=chunk))
        return results

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


async def _fold_statuses(
    tx: AsyncSession, *, account_id: str, statuses: Sequence[StatusWebhook]
) -> list[ReminderRecord | None]:
    """Fold ``statuses`` in order into the account's reminders they name, read in one locking
    statement and written back in one; for each status, the record just after it."""
    reminder_ids = {s.reminder_id for s in statuses if s.reminder_id is not None}
    message_ids = {s.message_id for s in statuses if s.message_id is not None}
    if not reminder_ids and not message_ids:
        return [None] * len(statuses)
    # The ids first, each list through its own index, then the account's rows by primary key.
    # One ``account_id = … AND (reminder_id IN … OR message_id IN …)`` let PostgreSQL scan
    # every row of the account against both lists, one by one once it cached a generic plan:
    # 250 ms a chunk at 11,000 reminders.
    named = union(
        select(ReminderRow.reminder_id).where(ReminderRow.reminder_id.in_(reminder_ids)),
        select(ReminderRow.reminder_id).where(ReminderRow.message_id.in_(message_ids)),
    )
    rows = await tx.scalars(
        locked(
            tx,
            select(ReminderRow)
            .where(ReminderRow.account_id == account_id, ReminderRow.reminder_id.in_(named))
            # PostgreSQL locks the rows in this order: two POSTs naming the same reminders
            # wait for each other instead of deadlocking.
            .order_by(ReminderRow.reminder_id),
        )
    )
    targets = _StatusTargets(to_record(ReminderRecord, row) for row in rows)
    results: list[ReminderRecord | None] = []
    for status in statuses:
        record = targets.find(reminder_id=status.reminder_id, message_id=status.message_id)
        if record is not None:
            record = targets.changed(_folded(record, status))
        results.append(record)
    if targets.written:
        # One executemany, on the connection (the session would take the list for an ORM bulk
        # update by primary key). The ORM's flush of changed rows sent asyncpg one UPDATE per
        # row, a round trip each: a 3 MiB POST of statuses took 3.5 s on PostgreSQL that way.
        connection = await tx.connection()
        await connection.execute(_WRITE_STATUS, [_status_columns(r) for r in targets.written])
    return results


# Writes back what statuses change; the ``b_`` names keep the SET clause's own names free.
_WRITE_STATUS = (
    update(ReminderRow)
    .where(ReminderRow.reminder_id == bindparam("b_reminder_id"))
    .values(
        outcome=bindparam("b_outcome"),
        delivery_status=bindparam("b_delivery_status"),
        delivery_updated_at=bindparam("b_delivery_updated_at"),
        error_code=bindparam("b_error_code"),
        reason=bindparam("b_reason"),
        message_id=bindparam("b_message_id"),
    )
)


def _status_columns(record: ReminderRecord) -> dict[str, Any]:
    return {
        "b_reminder_id": record.reminder_id,
        "b_outcome": record.outcome,
        "b_delivery_status": record.delivery_status,
        "b_delivery_updated_at": record.delivery_updated_at,
        "b_error_code": record.error_code,
        "b_reason": record.reason,
        "b_message_id": record.message_id,
    }


class _StatusTargets:
    """The records one chunk of statuses may name, as each status leaves them, found as a
    status at a time would find them: by our callback data, else by Meta's message id (the
    newest record carrying it)."""

    def __init__(self, records: Iterable[ReminderRecord]) -> None:
        self._by_id: dict[str, ReminderRecord] = {}
        self._by_message: dict[str, str] = {}
        self._changed: set[str] = set()
        for record in records:
            self._by_id[record.reminder_id] = record
            self._known_by_message(record)

    def find(self, *, reminder_id: str | None, message_id: str | None) -> ReminderRecord | None:
        record = None if reminder_id is None else self._by_id.get(reminder_id)
        if record is None and message_id is not None and message_id in self._by_message:
            record = self._by_id[self._by_message[message_id]]
        return record

    def changed(self, record: ReminderRecord) -> ReminderRecord:
        """Keep ``record`` as its reminder's latest state, to be written back."""
        if record != self._by_id[record.reminder_id]:
            self._by_id[record.reminder_id] = record
            self._changed.add(record.reminder_id)
            self._known_by_message(record)
        return record

    @property
    def written(self) -> list[ReminderRecord]:
        """The records some status changed, in their final state."""
        return [self._by_id[reminder_id] for reminder_id in sorted(self._changed)]

    def _known_by_message(self, record: ReminderRecord) -> None:
        """Statuses naming only ``record``'s message id find it, if it is the id's newest
        record (it may carry the id from the start, or since a status filled it in)."""
        if record.message_id is None:
            return
        known = self._by_message.get(record.message_id)
        if known is None or (record.created_at, record.reminder_id) > (
            self._by_id[known].created_at,
            known,
        ):
            self._by_message[record.message_id] = record.reminder_id


def _folded(record: ReminderRecord, status: StatusWebhook) -> ReminderRecord:
    """``record`` after one status (``core.delivery.fold_status``); a status naming the
    reminder by our callback data also fills in a message id it lacks."""
    folded, advanced = fold_status(
        Delivery(
            outcome=ReminderOutcome(record.outcome),
            delivery_status=None
            if record.delivery_status is None
            else DeliveryStatus(record.delivery_status),
            error_code=record.error_code,
            reason=record.reason,
        ),
        StatusReport(
            status=status.status, error_code=status.error_code, error_message=status.error_message
        ),
    )
    return replace(
        record,
        outcome=folded.outcome,
        delivery_status=folded.delivery_status,
        error_code=folded.error_code,
        reason=folded.reason,
        delivery_updated_at=status.at if advanced else record.delivery_updated_at,
        message_id=record.message_id if record.message_id is not None else status.message_id,
    )


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
