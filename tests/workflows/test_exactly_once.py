"""Exactly one reminder, whatever fails: the workflow's side of the attempt protocol
(docs/sending.md#attempts-and-waits), on the time-skipping server with the real activities.

Each test stages one fault the issue tracker found; each failed on the code before the
protocol (a send after the customer's reply, a loop on clock skew, a late send, a swallowed
signal, a record left in flight).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType

from core.contract import ConversationInput, CustomerMessage, ReminderRequest, ReminderResult
from core.temporal_names import CUSTOMER_MESSAGE_SIGNAL
from core.vocabulary import ReminderOutcome, SessionState
from store.records import SessionSettingsRecord
from tests.support import eventually, store_sender
from tests.workflows.conftest import with_options
from tests.workflows.harness import ACCOUNT, Conversation
from workflows.conversation import ConversationWorkflow

WA_ID = "15550001111"

pytestmark = pytest.mark.timeout(120)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
# Longer than the 2-second workflow task of the test below, shorter than the reload's own
# 10-second timeout (a reload that timed out would be retried and read the new settings).
LONGER_THAN_A_WORKFLOW_TASK = 4.0


async def _outcomes(conv: Conversation) -> list[str]:
    return sorted(record.outcome.value for record in await conv.reminders())


async def test_a_throttled_send_is_abandoned_when_the_customer_writes_again(
    conv: Conversation,
) -> None:
    # Meta throttles the first attempt and asks for an hour's patience.
    await conv.fail_next_sends(kind="http", status=429, code=130429, retry_after=3600)
    await conv.customer_writes()
    await conv.sleep(2 * HOUR + MINUTE)
    await eventually(conv.reminders, lambda r: [x.outcome for x in r] == ["retrying"])

    await conv.customer_writes()  # the customer is back: the old silence is over
    await eventually(lambda: _outcomes(conv), lambda o: o == ["skipped_customer_replied"])
    await conv.sleep(2 * HOUR + MINUTE)  # the new silence earns its own reminder
    await eventually(conv.outbox, lambda items: len(items) == 1)
    await conv.sleep(2 * HOUR)  # and the old one never goes out
    await asyncio.sleep(0.5)
    assert len(await conv.outbox()) == 1
    assert await _outcomes(conv) == ["sent", "skipped_customer_replied"]


@with_options(clock_offset=timedelta(seconds=-5))
async def test_a_worker_clock_behind_the_server_rearms_instead_of_looping(
    conv: Conversation,
) -> None:
    handle = await conv.customer_writes()
    await conv.sleep(2 * HOUR + MINUTE)
    await eventually(conv.outbox, lambda items: len(items) == 1)
    history = await handle.fetch_history()
    scheduled = [
        event
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == "send_reminder"
    ]
    # "Not due yet" by the worker's clock once, then a timer, then the send: two attempts.
    assert len(scheduled) == 2
    assert len(history.events) < 60


async def test_less_than_a_minute_before_the_window_closes_nothing_is_sent(
    conv: Conversation,
) -> None:
    handle = await conv.customer_writes(ago=24 * HOUR - timedelta(seconds=30))
    final = await handle.result()
    assert final.state is SessionState.EXPIRED
    assert final.reminder_outcome is ReminderOutcome.SKIPPED_WINDOW_CLOSED
    assert await conv.outbox() == []
    assert await _outcomes(conv) == ["skipped_window_closed"]


class _GatedSettings:
    """The store's settings reads, held at a gate after reading: a slow reload on demand."""

    def __init__(self, real: object) -> None:
        self._real = real
        self.gate: asyncio.Event | None = None
        self.reading = asyncio.Event()

    async def get(self, *, account_id: str) -> SessionSettingsRecord:
        record: SessionSettingsRecord = await self._real.get(account_id=account_id)  # type: ignore[attr-defined]
        if self.gate is not None:
            self.reading.set()
            await self.gate.wait()
        return record


class _Store:
    def __init__(self, real: object, settings: _GatedSettings) -> None:
        self._real = real
        self.settings = settings

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


@with_options(enabled=False)
async def test_a_settings_signal_during_a_reload_is_not_swallowed(conv: Conversation) -> None:
    settings = _GatedSettings(conv.store.settings)
    conv.activities._store = _Store(conv.store, settings)  # type: ignore[assignment]
    # A short workflow task timeout: a reload that outlasts it is heartbeated in a new workflow
    # task, which is how a signal reaches the workflow while the reload is still running.
    now = await conv.now()
    await store_sender(
        conv.store,
        account_id=ACCOUNT,
        wa_id=WA_ID,
        conversation_key=conv.key(WA_ID),
        profile_name="Ana",
    )
    await conv.env.client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(account_id=ACCOUNT, conversation_key=conv.key(WA_ID)),
        id=conv.workflow_id(WA_ID),
        task_queue=conv.task_queue,
        start_signal=CUSTOMER_MESSAGE_SIGNAL,
        start_signal_args=[
            CustomerMessage(message_id="wamid.1", sent_at=now - 3 * HOUR, received_at=now)
        ],
        task_timeout=timedelta(seconds=2),
    )
    conv.started.add(conv.workflow_id(WA_ID))
    await eventually(conv.session, lambda s: s.state is SessionState.PAUSED)

    settings.gate = asyncio.Event()
    await conv.signal_settings()  # a reload starts and reads "disabled" ...
    await asyncio.wait_for(settings.reading.wait(), 10)
    await conv.save_settings(enabled=True, signal=False)  # ... as reminders are enabled
    await conv.signal_settings()  # the second signal arrives during that reload
    await asyncio.sleep(LONGER_THAN_A_WORKFLOW_TASK)
    settings.gate.set()
    settings.gate = None
    # Nothing else wakes the session before its window closes: only that signal can. (If it
    # was swallowed, the outbox stays empty and ``eventually`` fails after 15 s.)
    sent = await eventually(conv.outbox, lambda items: len(items) > 0, timeout=15)
    assert len(sent) == 1, sent
    reminded = await eventually(conv.session, lambda s: s.state is SessionState.REMINDED)
    assert reminded.reminder_outcome is ReminderOutcome.SENT


async def test_a_send_that_kept_failing_is_settled_when_the_workflow_gives_up(
    conv: Conversation,
) -> None:
    real_attempt = conv.activities._attempt

    async def claims_then_crashes(request: ReminderRequest) -> ReminderResult:
        await conv.store.reminders.claim(
            account_id=request.account_id,
            conversation_key=request.conversation_key,
            wa_id="15550001111",
            last_customer_message_at=request.last_customer_message_at,
            text="Hi",
        )
        raise RuntimeError("the database went away mid-attempt")

    conv.activities._attempt = claims_then_crashes  # type: ignore[method-assign]
    try:
        handle = await conv.customer_writes(ago=24 * HOUR - 5 * MINUTE)
        final = await handle.result()
    finally:
        conv.activities._attempt = real_attempt  # type: ignore[method-assign]
    # The claim may have sent: never a record left in flight, and never a second send.
    assert final.reminder_outcome is ReminderOutcome.UNKNOWN
    [record] = await conv.reminders()
    assert record.outcome is ReminderOutcome.UNKNOWN
    assert await conv.outbox() == []


async def test_a_record_still_retrying_when_reminders_are_disabled_is_settled_at_the_close(
    conv: Conversation,
) -> None:
    await conv.fail_next_sends(kind="http", status=429, code=130429, retry_after=3600)
    handle = await conv.customer_writes()
    await conv.sleep(2 * HOUR + MINUTE)
    await eventually(conv.reminders, lambda r: [x.outcome for x in r] == ["retrying"])
    await conv.save_settings(enabled=False)
    await eventually(conv.session, lambda s: s.state is SessionState.PAUSED)
    final = await handle.result()
    assert final.state is SessionState.EXPIRED
    assert await _outcomes(conv) == ["skipped_disabled"]
    assert await conv.outbox() == []
