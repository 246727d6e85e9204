"""The record's side of an ambiguous send: mark, wait for proof, reclaim, settle; and the
attempt number that keeps a stale attempt from overwriting a newer one (docs/sending.md)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.vocabulary import DeliveryStatus, ReminderOutcome
from store.records import ReminderRecord
from store.repository import Store
from tests.store.conftest import START, FakeClock
from tests.store_reads import reminder_by_id

T = START - timedelta(hours=23)


async def _claimed(store: Store, account_id: str, key: str = "conv1") -> ReminderRecord:
    claim = await store.reminders.claim(
        account_id=account_id,
        conversation_key=key,
        wa_id="15550001",
        last_customer_message_at=T,
        text="Hi!",
    )
    assert claim.acquired
    return claim.record


async def _status(
    store: Store, record: ReminderRecord, status: DeliveryStatus, message_id: str
) -> ReminderRecord | None:
    """Meta's status webhook about ``record``'s message (no error)."""
    return await store.reminders.apply_status(
        account_id=record.account_id,
        message_id=message_id,
        reminder_id=record.reminder_id,
        status=status,
        at=START,
        error_code=None,
        error_message=None,
    )


async def _get(store: Store, reminder_id: str) -> ReminderRecord:
    record = await reminder_by_id(store, reminder_id)
    assert record is not None
    return record


async def test_an_ambiguous_record_is_in_flight_dated_from_the_attempt(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    record = await _claimed(store, account_id)
    clock.advance(minutes=1)
    await store.reminders.mark_ambiguous(
        reminder_id=record.reminder_id, reason="HTTP 503", attempt=1
    )
    marked = await _get(store, record.reminder_id)
    assert (marked.outcome, marked.reason, marked.decided_at) == (
        ReminderOutcome.AMBIGUOUS,
        "HTTP 503",
        START.replace(minute=1),
    )
    # Nobody may claim it: it waits for proof.
    again = await store.reminders.claim(
        account_id=account_id,
        conversation_key="conv1",
        wa_id="15550001",
        last_customer_message_at=T,
        text="Hi!",
    )
    assert not again.acquired and again.record.outcome is ReminderOutcome.AMBIGUOUS


async def test_a_status_proves_an_ambiguous_send_and_it_is_never_reclaimed(
    store: Store, account_id: str
) -> None:
    record = await _claimed(store, account_id)
    await store.reminders.mark_ambiguous(reminder_id=record.reminder_id, reason="timeout")
    proved = await _status(store, record, DeliveryStatus.SENT, "wamid.P")
    assert proved is not None and proved.outcome is ReminderOutcome.SENT
    assert await store.reminders.reclaim_ambiguous(reminder_id=record.reminder_id) is None


async def test_a_status_proves_even_a_released_send(store: Store, account_id: str) -> None:
    # Whatever the record thought of the attempt, a status is stronger.
    record = await _claimed(store, account_id)
    await store.reminders.release(reminder_id=record.reminder_id, reason="HTTP 500")
    await _status(store, record, DeliveryStatus.DELIVERED, "wamid.Q")
    again = await store.reminders.claim(
        account_id=account_id,
        conversation_key="conv1",
        wa_id="15550001",
        last_customer_message_at=T,
        text="Hi!",
    )
    assert not again.acquired
    assert again.record.outcome is ReminderOutcome.SENT


async def test_without_proof_the_record_is_reclaimed_once_for_another_attempt(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    record = await _claimed(store, account_id)
    await store.reminders.mark_ambiguous(reminder_id=record.reminder_id, reason="timeout")
    clock.advance(minutes=2)
    results = await asyncio.gather(
        *(store.reminders.reclaim_ambiguous(reminder_id=record.reminder_id) for _ in range(4))
    )
    won = [r for r in results if r is not None]
    assert len(won) == 1
    assert (won[0].outcome, won[0].attempts, won[0].reminder_id) == (
        ReminderOutcome.PENDING,
        2,
        record.reminder_id,  # the same id: a status of either attempt proves the reminder
    )


async def test_a_stale_attempt_cannot_overwrite_a_newer_one(store: Store, account_id: str) -> None:
    record = await _claimed(store, account_id)
    await store.reminders.mark_ambiguous(reminder_id=record.reminder_id, reason="timeout")
    newer = await store.reminders.reclaim_ambiguous(reminder_id=record.reminder_id)
    assert newer is not None and newer.attempts == 2
    # The first attempt, long thought dead, answers late: its writes do nothing.
    await store.reminders.release(reminder_id=record.reminder_id, reason="late", attempt=1)
    stale = await store.reminders.finish(
        reminder_id=record.reminder_id,
        outcome=ReminderOutcome.FAILED,
        reason="late",
        attempt=1,
    )
    assert stale.outcome is ReminderOutcome.PENDING
    done = await store.reminders.finish(
        reminder_id=record.reminder_id,
        outcome=ReminderOutcome.SENT,
        message_id="wamid.N",
        attempt=2,
    )
    assert (done.outcome, done.message_id) == (ReminderOutcome.SENT, "wamid.N")


@pytest.mark.parametrize(
    ("state", "settled"),
    [
        ("retrying", ReminderOutcome.SKIPPED_CUSTOMER_REPLIED),
        ("pending", ReminderOutcome.UNKNOWN),
        ("ambiguous", ReminderOutcome.UNKNOWN),
    ],
)
async def test_closing_a_silence_settles_its_record_in_flight(
    store: Store, account_id: str, state: str, settled: ReminderOutcome
) -> None:
    record = await _claimed(store, account_id)
    if state == "retrying":
        await store.reminders.release(reminder_id=record.reminder_id, reason="429")
    elif state == "ambiguous":
        await store.reminders.mark_ambiguous(reminder_id=record.reminder_id, reason="503")
    closed = await store.reminders.close_silence(
        conversation_key="conv1",
        last_customer_message_at=T,
        not_sent=ReminderOutcome.SKIPPED_CUSTOMER_REPLIED,
        reason="the customer wrote again",
    )
    assert closed is not None
    assert (closed.outcome, closed.reason) == (settled, "the customer wrote again")
    # An unknown outcome still turns into sent when proof comes late.
    if settled is ReminderOutcome.UNKNOWN:
        proved = await _status(store, record, DeliveryStatus.READ, "wamid.L")
        assert proved is not None and proved.outcome is ReminderOutcome.SENT


async def test_closing_keeps_a_decision_and_needs_a_record(store: Store, account_id: str) -> None:
    record = await _claimed(store, account_id)
    await store.reminders.finish(reminder_id=record.reminder_id, outcome=ReminderOutcome.SENT)
    kept = await store.reminders.close_silence(
        conversation_key="conv1",
        last_customer_message_at=T,
        not_sent=ReminderOutcome.FAILED,
        reason="window closed",
    )
    assert kept is not None and kept.outcome is ReminderOutcome.SENT
    assert (
        await store.reminders.close_silence(
            conversation_key="nobody",
            last_customer_message_at=T,
            not_sent=ReminderOutcome.FAILED,
            reason="window closed",
        )
        is None
    )
