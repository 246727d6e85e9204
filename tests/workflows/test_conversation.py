"""docs/sessions.md and docs/sending.md on the time-skipping test server, with the real
activities, SQLite and the stand-in Graph API.

Every test moves the server's clock with ``env.sleep`` and then waits (in real time) for the
outcome to show up in the sandbox outbox or the audit trail.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.service import RPCError

from core.contract import CustomerMessage, SessionSnapshot
from core.vocabulary import ReminderOutcome, SessionState
from tests.support import eventually
from tests.workflows.conftest import with_options
from tests.workflows.harness import Conversation
from workflows.conversation import ConversationWorkflow

pytestmark = pytest.mark.timeout(120)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


async def sent_count(conv: Conversation, count: int) -> list[dict[str, object]]:
    return await eventually(conv.outbox, lambda items: len(items) == count)


async def settle(conv: Conversation) -> None:
    """Give the worker a moment of real time to act on what the last sleep fired."""
    await asyncio.sleep(0.5)


# Also on the runner the production worker uses by default (WORKFLOW_SANDBOX=false).
@pytest.mark.parametrize(
    "conv", [{}, {"sandboxed": False}], indirect=True, ids=["sandboxed", "unsandboxed"]
)
async def test_exactly_expiry_hours_of_silence_sends_one_reminder(conv: Conversation) -> None:
    start = await conv.now()
    await conv.customer_writes()
    await conv.sleep(2 * HOUR - MINUTE)
    await settle(conv)
    assert await conv.outbox() == []
    session = await conv.session()
    assert session.state is SessionState.WAITING
    assert session.reminder_due_at is not None
    assert abs(session.reminder_due_at - (start + 2 * HOUR)) < timedelta(seconds=5)

    await conv.sleep(2 * MINUTE)
    [message] = await sent_count(conv, 1)
    assert message["body"] == "Hi John Smith, Acme Inc. here. Still there?"
    assert message["to"] == "+15550001111"
    [record] = await eventually(conv.reminders, lambda r: len(r) == 1)
    assert record.outcome == "sent"
    assert record.message_id == message["id"]
    # Exact to the minute: decided when due, not on an hourly sweep.
    assert timedelta(0) <= record.decided_at - (start + 2 * HOUR) < MINUTE
    assert (await conv.session()).state is SessionState.REMINDED


async def test_a_message_before_due_rearms_from_the_new_time(conv: Conversation) -> None:
    await conv.customer_writes()
    await conv.sleep(2 * HOUR - MINUTE)
    second = await conv.now()
    await conv.customer_writes()
    await conv.sleep(2 * MINUTE)
    await settle(conv)
    assert await conv.outbox() == []
    session = await conv.session()
    assert session.last_customer_message_at is not None
    assert abs(session.last_customer_message_at - second) < timedelta(seconds=5)
    assert session.reminder_due_at is not None
    assert abs(session.reminder_due_at - (second + 2 * HOUR)) < timedelta(seconds=5)

    await conv.sleep(2 * HOUR)
    await sent_count(conv, 1)


async def test_duplicate_message_id_has_the_effect_of_one(conv: Conversation) -> None:
    await conv.customer_writes(message_id="wamid.same")
    first = await conv.session()
    await conv.sleep(30 * MINUTE)
    await conv.customer_writes(message_id="wamid.same")
    await settle(conv)
    again = await conv.session()
    assert again.message_count == 1
    assert again.last_customer_message_at == first.last_customer_message_at


async def test_messages_folded_into_one_signal_count_and_dedupe_as_their_own(
    conv: Conversation,
) -> None:
    # What the API sends for three messages of one POST: the newest, carrying the two older.
    await conv.customer_writes(message_id="wamid.3", earlier_message_ids=["wamid.1", "wamid.2"])
    await settle(conv)
    first = await conv.session()
    assert first.message_count == 3
    # A redelivered older message is recognised; of a later POST, only the new ids count.
    await conv.customer_writes(message_id="wamid.2", ago=HOUR)
    await conv.customer_writes(message_id="wamid.5", earlier_message_ids=["wamid.1", "wamid.4"])
    await settle(conv)
    later = await conv.session()
    assert later.message_count == 5
    assert later.last_customer_message_at is not None and first.last_customer_message_at
    assert later.last_customer_message_at >= first.last_customer_message_at
    # Meta redelivers the newest message with an older one this run never saw: only that one
    # counts, and T stays where the newest message put it.
    await conv.customer_writes(message_id="wamid.5", earlier_message_ids=["wamid.4b"])
    await settle(conv)
    redelivered = await conv.session()
    assert redelivered.message_count == 6
    assert redelivered.last_customer_message_at == later.last_customer_message_at


async def test_older_timestamp_does_not_move_t_back(conv: Conversation) -> None:
    await conv.customer_writes()
    first = await conv.session()
    await conv.customer_writes(ago=HOUR)
    later = await conv.session()
    assert later.message_count == 2
    assert later.last_customer_message_at == first.last_customer_message_at


async def test_future_timestamp_is_clamped_to_receipt(conv: Conversation) -> None:
    now = await conv.now()
    await conv.customer_writes(ago=-3 * HOUR)
    session = await conv.session()
    assert session.last_customer_message_at is not None
    assert abs(session.last_customer_message_at - now) < timedelta(seconds=5)


async def test_disabled_at_fire_time_sends_nothing(conv: Conversation) -> None:
    await conv.customer_writes()
    await conv.sleep(HOUR)
    # Written to the database only: the activity's fire-time check must catch it.
    await conv.save_settings(enabled=False, signal=False)
    await conv.sleep(HOUR + MINUTE)
    [record] = await eventually(conv.reminders, lambda r: len(r) == 1)
    assert record.outcome == "skipped_disabled"
    assert await conv.outbox() == []
    assert (await conv.session()).state is SessionState.PAUSED


async def test_hours_raised_while_waiting_send_at_the_new_due_time(conv: Conversation) -> None:
    start = await conv.now()
    await conv.customer_writes()
    await conv.sleep(HOUR)
    await conv.save_settings(expiry_hours=4)
    await conv.sleep(HOUR + 30 * MINUTE)
    await settle(conv)
    assert await conv.outbox() == []
    session = await conv.session()
    assert session.reminder_due_at is not None
    assert abs(session.reminder_due_at - (start + 4 * HOUR)) < timedelta(seconds=5)
    await conv.sleep(2 * HOUR)
    await sent_count(conv, 1)
    [record] = await eventually(conv.reminders, lambda r: len(r) == 1)
    assert timedelta(0) <= record.decided_at - (start + 4 * HOUR) < MINUTE


async def test_hours_raised_without_signal_are_caught_at_fire_time(conv: Conversation) -> None:
    start = await conv.now()
    await conv.customer_writes()
    await conv.save_settings(expiry_hours=3, signal=False)
    await conv.sleep(2 * HOUR + MINUTE)
    await settle(conv)
    assert await conv.outbox() == []  # the activity said "not due" and the workflow re-armed
    session = await conv.session()
    assert session.reminder_due_at is not None
    assert abs(session.reminder_due_at - (start + 3 * HOUR)) < timedelta(seconds=5)
    await conv.sleep(HOUR)
    await sent_count(conv, 1)


@with_options(expiry_hours=4)
async def test_hours_lowered_past_due_send_promptly(conv: Conversation) -> None:
    await conv.customer_writes()
    await conv.sleep(3 * HOUR)
    await settle(conv)
    assert await conv.outbox() == []
    await conv.save_settings(expiry_hours=2)
    await conv.sleep(MINUTE)
    await sent_count(conv, 1)


@with_options(enabled=False)
async def test_enabled_while_overdue_inside_the_window_sends_once(conv: Conversation) -> None:
    await conv.customer_writes()
    await conv.sleep(5 * HOUR)
    await settle(conv)
    assert (await conv.session()).state is SessionState.PAUSED
    assert await conv.outbox() == []
    await conv.save_settings(enabled=True)
    await conv.sleep(MINUTE)
    await sent_count(conv, 1)
    await conv.save_settings(enabled=True)  # saving again must not earn a second reminder
    await conv.sleep(HOUR)
    await settle(conv)
    assert len(await conv.outbox()) == 1


async def test_message_already_25_hours_old_sends_nothing_and_completes(
    conv: Conversation,
) -> None:
    handle = await conv.customer_writes(ago=25 * HOUR)
    final = await handle.result()
    assert final.state is SessionState.EXPIRED
    assert await conv.outbox() == []
    assert await conv.reminders() == []


async def test_run_completes_when_the_window_closes_and_a_new_message_starts_a_new_run(
    conv: Conversation,
) -> None:
    start = await conv.now()
    first = await conv.customer_writes()
    final = await first.result()  # skips time through the reminder to the window's close
    assert final.state is SessionState.EXPIRED
    assert final.reminder_outcome is ReminderOutcome.SENT
    # describe() cannot decode the test server's unset datetime attributes; history can.
    history = await first.fetch_history()
    closed_at = history.events[-1].event_time.ToDatetime(tzinfo=UTC)
    assert abs(closed_at - (start + 24 * HOUR)) < MINUTE
    assert len(await conv.outbox()) == 1

    second = await conv.customer_writes()
    assert second.result_run_id != first.result_run_id
    session = await conv.session()
    assert session.state is SessionState.WAITING
    assert session.reminder_outcome is None


async def test_after_a_reminder_silence_earns_nothing_more_until_the_customer_writes(
    conv: Conversation,
) -> None:
    await conv.customer_writes()
    await conv.sleep(2 * HOUR + MINUTE)
    await sent_count(conv, 1)
    await conv.sleep(10 * HOUR)
    await settle(conv)
    assert len(await conv.outbox()) == 1
    assert (await conv.session()).state is SessionState.REMINDED

    await conv.customer_writes()
    await conv.sleep(2 * HOUR + MINUTE)
    await sent_count(conv, 2)


async def test_131047_is_recorded_as_window_closed_and_not_retried(conv: Conversation) -> None:
    await conv.fail_next_sends(kind="http", status=400, code=131047, times=2)
    await conv.customer_writes()
    await conv.sleep(2 * HOUR + MINUTE)
    [record] = await eventually(conv.reminders, lambda r: len(r) == 1 and r[0].outcome != "pending")
    assert record.outcome == "failed_window_closed"
    assert record.error_code == 131047
    assert record.attempts == 1
    await conv.sleep(HOUR)
    await settle(conv)
    assert await conv.outbox() == []
    assert (await conv.session()).reminder_outcome is ReminderOutcome.FAILED_WINDOW_CLOSED
    await conv.sandbox.delete("/_sandbox/failures")


async def test_5xx_then_success_sends_exactly_one(conv: Conversation) -> None:
    await conv.fail_next_sends(kind="http", status=503, times=1)
    await conv.customer_writes()
    await conv.sleep(2 * HOUR + MINUTE)
    await sent_count(conv, 1)
    [record] = await eventually(conv.reminders, lambda r: len(r) == 1 and r[0].outcome == "sent")
    assert record.attempts == 2
    await conv.sleep(HOUR)
    await settle(conv)
    assert len(await conv.outbox()) == 1


async def test_permanent_error_is_recorded_and_not_retried(conv: Conversation) -> None:
    await conv.fail_next_sends(kind="http", status=400, code=131026, times=2)
    await conv.customer_writes()
    await conv.sleep(2 * HOUR + MINUTE)
    [record] = await eventually(conv.reminders, lambda r: len(r) == 1 and r[0].outcome != "pending")
    assert record.outcome == "failed"
    assert record.error_code == 131026
    assert record.attempts == 1
    assert await conv.outbox() == []
    await conv.sandbox.delete("/_sandbox/failures")


@with_options(whatsapp_timeout=0.5)
async def test_a_timed_out_send_that_reached_meta_is_proved_by_its_status_not_resent(
    conv: Conversation,
) -> None:
    await conv.fail_next_sends(kind="delay", seconds=2, times=1)
    await conv.customer_writes()
    # Just past the due time: the wait for proof (a minute) must not be skipped over yet.
    await conv.sleep(2 * HOUR + timedelta(seconds=5))
    [record] = await eventually(
        conv.reminders, lambda r: len(r) == 1 and r[0].outcome == "ambiguous"
    )
    # The delayed request did reach the stand-in; Meta's status webhook says so.
    [accepted] = await eventually(conv.outbox, lambda items: len(items) == 1, timeout=10)
    assert accepted["callback_data"] == record.reminder_id
    await conv.status_arrives(accepted["callback_data"], message_id=accepted["id"])
    await conv.sleep(2 * MINUTE)  # past the wait for proof: the next attempt finds it
    await eventually(conv.session, lambda s: s.reminder_outcome is ReminderOutcome.SENT)
    await asyncio.sleep(1)
    assert len(await conv.outbox()) == 1
    [record] = await conv.reminders()
    assert (record.outcome, record.message_id) == ("sent", accepted["id"])


@with_options(max_history_events=500)
@pytest.mark.timeout(240)
async def test_two_thousand_messages_continue_as_new_without_losing_any(
    conv: Conversation,
) -> None:
    handle = await conv.customer_writes(message_id="wamid.0")
    first_run = handle.result_run_id
    start = await conv.now()
    for batch in range(0, 2_000, 100):
        await asyncio.gather(
            *(
                handle.signal(
                    ConversationWorkflow.customer_message,
                    _message(f"wamid.{i}", start, seconds=i),
                )
                for i in range(max(batch, 1), batch + 100)
            )
        )

    async def settled_session() -> SessionSnapshot | None:
        # Queries queue behind 2,000 signals on a busy machine: a late answer is not a failure.
        try:
            return await conv.session()
        except RPCError:
            return None

    session = await eventually(
        settled_session,
        lambda s: s is not None and s.message_count == 2_000,
        timeout=120,
        interval=0.5,
    )
    assert session is not None
    assert session.last_customer_message_at == start + timedelta(seconds=1_999)
    first = conv.env.client.get_workflow_handle(conv.workflow_id("15550001111"), run_id=first_run)
    # The server refuses continue-as-new while signals keep arriving (they must be handled
    # first), so the first run may close a moment after the last signal.
    history = await eventually(
        first.fetch_history,
        lambda h: h.events[-1].HasField("workflow_execution_continued_as_new_event_attributes"),
        timeout=60,
        interval=0.5,
    )
    assert len(history.events) >= 500
    # Dedupe survives continue-as-new.
    await handle.signal(ConversationWorkflow.customer_message, _message("wamid.1999", start, 1_999))
    await settle(conv)
    again = await eventually(settled_session, lambda s: s is not None, timeout=60, interval=0.5)
    assert again is not None
    assert again.message_count == 2_000


def _message(message_id: str, start: datetime, seconds: int) -> CustomerMessage:
    moment = start + timedelta(seconds=seconds)
    return CustomerMessage(message_id=message_id, sent_at=moment, received_at=moment)
