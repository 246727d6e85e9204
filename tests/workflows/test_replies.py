"""Replies after reminders on the time-skipping server (docs/analytics.md#replies): a customer
message after the send and inside the window marks the reminder replied, exactly once, with
the reply's own time; one before the send or after the window does not. With the real
activities, SQLite and the stand-in Graph API.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from core.vocabulary import DeliveryStatus, ReminderOutcome
from store.records import ReminderRecord
from tests.support import eventually
from tests.workflows.conftest import with_options
from tests.workflows.harness import Conversation

pytestmark = pytest.mark.timeout(120)

ONE_HOUR = with_options(expiry_hours=1)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
CUSTOMER = "15550001111"


async def sent_reminder(conv: Conversation) -> ReminderRecord:
    """The customer writes, stays silent for the hour, and gets the reminder."""
    await conv.customer_writes(CUSTOMER, message_id="wamid.first")
    await conv.sleep(HOUR + MINUTE)
    [record] = await eventually(
        conv.reminders, lambda r: len(r) == 1 and r[0].outcome is ReminderOutcome.SENT
    )
    return record


async def replied(conv: Conversation, reminder_id: str) -> ReminderRecord:
    [record] = await eventually(
        lambda: _by_id(conv, reminder_id), lambda r: len(r) == 1 and r[0].replied_at is not None
    )
    return record


async def _by_id(conv: Conversation, reminder_id: str) -> list[ReminderRecord]:
    return [r for r in await conv.reminders() if r.reminder_id == reminder_id]


async def reply_recordings(conv: Conversation) -> int:
    """How many times the run asked for the reply to be written."""
    return sum(
        1
        for event in await latest_run(conv)
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == "record_reply"
    )


async def latest_run(conv: Conversation) -> list[HistoryEvent]:
    """The events of the session's latest run."""
    handle = conv.env.client.get_workflow_handle(conv.workflow_id(CUSTOMER))
    return list((await handle.fetch_history()).events)


async def quiet_for_a_while(conv: Conversation) -> None:
    """Long enough for any reply the run noticed to be written."""
    await asyncio.sleep(1.0)


@ONE_HOUR
async def test_a_reply_after_the_reminder_inside_the_window_marks_it_replied(
    conv: Conversation,
) -> None:
    reminder = await sent_reminder(conv)
    await conv.sleep(10 * MINUTE)
    before = await conv.now()
    await conv.customer_writes(CUSTOMER, message_id="wamid.reply")
    record = await replied(conv, reminder.reminder_id)
    assert record.replied_at is not None and record.replied_at >= before
    assert record.reply_seconds == int((record.replied_at - reminder.decided_at).total_seconds())
    assert 10 * 60 <= record.reply_seconds < 11 * 60
    session = await conv.session(CUSTOMER)
    assert session.reminder_replied_at == record.replied_at
    assert await reply_recordings(conv) == 1


@ONE_HOUR
async def test_a_message_written_before_the_reminder_is_not_its_reply(
    conv: Conversation,
) -> None:
    """A late webhook: it arrives after the send, but the message is older than the send."""
    reminder = await sent_reminder(conv)
    await conv.sleep(5 * MINUTE)
    await conv.customer_writes(CUSTOMER, message_id="wamid.late", ago=10 * MINUTE)
    await quiet_for_a_while(conv)
    [record] = await _by_id(conv, reminder.reminder_id)
    assert record.replied_at is None
    assert (await conv.session(CUSTOMER)).reminder_replied_at is None
    assert await reply_recordings(conv) == 0


@ONE_HOUR
async def test_a_message_after_the_window_closed_is_not_a_reply(conv: Conversation) -> None:
    reminder = await sent_reminder(conv)
    first_run = (await conv.session(CUSTOMER)).last_customer_message_at
    await conv.sleep(23 * HOUR)  # the window closed; the run completed
    await eventually(
        lambda: latest_run(conv),
        lambda events: events[-1].HasField("workflow_execution_completed_event_attributes"),
    )
    await conv.customer_writes(CUSTOMER, message_id="wamid.next-day")
    session = await eventually(
        lambda: conv.session(CUSTOMER),
        lambda s: s.last_customer_message_at != first_run and s.message_count == 1,
    )
    assert session.reminder_replied_at is None
    await quiet_for_a_while(conv)
    [record] = await _by_id(conv, reminder.reminder_id)
    assert record.replied_at is None


@ONE_HOUR
async def test_the_same_reply_delivered_three_times_counts_once(conv: Conversation) -> None:
    reminder = await sent_reminder(conv)
    await conv.sleep(3 * MINUTE)
    for _ in range(3):
        await conv.customer_writes(CUSTOMER, message_id="wamid.reply")
    first = await replied(conv, reminder.reminder_id)
    await conv.sleep(MINUTE)
    await conv.customer_writes(CUSTOMER, message_id="wamid.reply")
    await quiet_for_a_while(conv)
    assert await _by_id(conv, reminder.reminder_id) == [first]
    assert (await conv.session(CUSTOMER)).message_count == 2
    assert await reply_recordings(conv) == 1


@ONE_HOUR
async def test_replies_out_of_order_keep_the_earliest(conv: Conversation) -> None:
    reminder = await sent_reminder(conv)
    await conv.sleep(20 * MINUTE)
    await conv.customer_writes(CUSTOMER, message_id="wamid.second")
    later = (await replied(conv, reminder.reminder_id)).replied_at
    assert later is not None
    # The first reply, written ten minutes before that one, is delivered last.
    earlier = later - 10 * MINUTE
    await conv.customer_writes(
        CUSTOMER, message_id="wamid.first-reply", ago=await conv.now() - earlier
    )
    [record] = await eventually(
        lambda: _by_id(conv, reminder.reminder_id),
        lambda r: r[0].replied_at is not None and r[0].replied_at < later,
    )
    assert record.replied_at is not None
    assert abs(record.replied_at - earlier) < timedelta(seconds=5)
    assert record.reply_seconds == int((record.replied_at - reminder.decided_at).total_seconds())
    assert await reply_recordings(conv) == 2


@with_options(expiry_hours=1, max_history_events=100)
async def test_a_reply_after_continue_as_new_is_still_recorded(conv: Conversation) -> None:
    reminder = await sent_reminder(conv)
    # Settings signals make history (each one a reload) without being customer messages.
    for _ in range(40):
        await conv.signal_settings(CUSTOMER)
        await asyncio.sleep(0.02)
    # The latest run is the one continued from the first.
    await eventually(
        lambda: latest_run(conv),
        lambda events: bool(
            events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        ),
        timeout=30,
        interval=0.2,
    )
    before = await conv.now()
    await conv.customer_writes(CUSTOMER, message_id="wamid.reply")
    record = await replied(conv, reminder.reminder_id)
    assert record.replied_at is not None and record.replied_at >= before
    assert (await conv.session(CUSTOMER)).reminder_replied_at == record.replied_at


@ONE_HOUR
async def test_a_reply_while_an_ambiguous_send_awaits_its_proof_counts_once_proven(
    conv: Conversation,
) -> None:
    """Meta accepted the reminder but answered 500; its status proves it went out, and the
    customer's message that came meanwhile is its reply."""
    await conv.fail_next_sends(kind="accept_then_fail", status=500)
    await conv.customer_writes(CUSTOMER, message_id="wamid.first")
    # Past the due time, well inside the minute of waiting for proof: the status and the reply
    # both come while the run waits, not while a next attempt may be under way.
    await conv.sleep(HOUR + timedelta(seconds=10))
    [record] = await eventually(
        conv.reminders, lambda r: len(r) == 1 and r[0].outcome is ReminderOutcome.AMBIGUOUS
    )
    [accepted] = await eventually(conv.outbox, lambda items: len(items) == 1)
    await conv.status_arrives(
        record.reminder_id, message_id=accepted["id"], status=DeliveryStatus.DELIVERED
    )
    before = await conv.now()
    await conv.customer_writes(CUSTOMER, message_id="wamid.reply")
    proven = await replied(conv, record.reminder_id)
    assert proven.outcome is ReminderOutcome.SENT
    assert proven.replied_at is not None and proven.replied_at >= before
    await quiet_for_a_while(conv)
    assert len(await conv.outbox()) == 1
