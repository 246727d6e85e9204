"""``Reminders.record_reply``: once per reminder, its earliest reply kept
(docs/analytics.md#replies)."""

from __future__ import annotations

from datetime import timedelta

from core.vocabulary import ReminderOutcome
from store.records import ReminderRecord
from store.repository import Store
from tests.store.conftest import START, FakeClock
from tests.store_reads import reminder_by_id

T = START - timedelta(hours=2)


async def _record(store: Store, reminder_id: str) -> ReminderRecord:
    record = await reminder_by_id(store, reminder_id)
    assert record is not None
    return record


async def _sent(store: Store, account_id: str) -> str:
    claim = await store.reminders.claim(
        account_id=account_id,
        conversation_key="conv1",
        wa_id="15550001",
        last_customer_message_at=T,
        text="Hi John!",
    )
    record = await store.reminders.finish(
        reminder_id=claim.record.reminder_id, outcome=ReminderOutcome.SENT, message_id="wamid.1"
    )
    return record.reminder_id


async def test_the_first_reply_is_recorded_with_its_delay(store: Store, account_id: str) -> None:
    reminder_id = await _sent(store, account_id)
    reply = START + timedelta(minutes=12, seconds=30)
    assert await store.reminders.record_reply(
        reminder_id=reminder_id, sent_at=START, replied_at=reply
    )
    record = await _record(store, reminder_id)
    assert (record.replied_at, record.reply_seconds) == (reply, 750)
    assert record.outcome is ReminderOutcome.SENT  # nothing else moves


async def test_the_same_reply_again_changes_nothing(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    reminder_id = await _sent(store, account_id)
    reply = START + timedelta(minutes=5)
    assert await store.reminders.record_reply(
        reminder_id=reminder_id, sent_at=START, replied_at=reply
    )
    before = await _record(store, reminder_id)
    clock.advance(minutes=1)
    for _ in range(2):
        assert (
            await store.reminders.record_reply(
                reminder_id=reminder_id, sent_at=START, replied_at=reply
            )
            is False
        )
    assert await _record(store, reminder_id) == before


async def test_an_earlier_reply_arriving_late_moves_the_time_back_a_later_one_does_not(
    store: Store, account_id: str
) -> None:
    reminder_id = await _sent(store, account_id)
    late, early = START + timedelta(minutes=20), START + timedelta(minutes=3)
    assert await store.reminders.record_reply(
        reminder_id=reminder_id, sent_at=START, replied_at=late
    )
    assert (
        await store.reminders.record_reply(reminder_id=reminder_id, sent_at=START, replied_at=early)
        is False
    )
    record = await _record(store, reminder_id)
    assert (record.replied_at, record.reply_seconds) == (early, 180)
    await store.reminders.record_reply(reminder_id=reminder_id, sent_at=START, replied_at=late)
    assert (await _record(store, reminder_id)).replied_at == early


async def test_a_reply_to_a_reminder_that_is_gone_is_none(store: Store, account_id: str) -> None:
    assert (
        await store.reminders.record_reply(
            reminder_id="00000000-0000-0000-0000-000000000000",
            sent_at=START,
            replied_at=START + timedelta(minutes=1),
        )
        is None
    )
