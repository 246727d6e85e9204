"""Determinism guard: recorded histories must replay on the current workflow code.

Production has sessions that are hours into their run when a new worker version starts; the new
code must make the same decisions, in the same order, as the code that wrote their histories so
far. ``histories/*.json`` are real runs of the conversation workflow, one per path through it:

- ``reminded_then_expired``: reminder sent, the customer wrote again, settings saved, window closed;
- ``continue_as_new``: a long conversation handing its state to the next run;
- ``not_due_rearmed``: hours raised without a signal, so the fire-time check says "not due" and
  the timer is armed again;
- ``paused_then_expired``: reminders disabled while waiting;
- ``activity_gave_up``: the send activity failed for good (recorded before attempts were
  settled; its path today is ``gave_up_then_settled``);
- ``expired_at_start``: a run whose first message was already older than the window;
- ``settings_changed_then_reminded``: hours lowered by a settings signal, reminder at the new time;
- ``gave_up_then_settled``: the send activity kept failing, and its record was settled;
- ``ambiguous_then_proved``: a 5xx answer, a wait for proof, and the status that proved it;
- ``abandoned_when_customer_replied``: a throttled send abandoned because the customer wrote;
- ``quiet_hours_then_template``: a reminder moved to the end of quiet hours, and the template
  sent when the window closed unanswered;
- ``reminded_then_replied``: the customer replied after the reminder, and the reply was
  recorded.

Each scenario below also runs live against the time-skipping server and checks that it still
takes its path. The committed files are what guards determinism: they were recorded by earlier
code, and a change that would break running sessions fails ``test_recorded_history_replays``.
A history stays as long as runs written by its code may still be in flight; a session lasts a
day, so it may go together with the ``workflow.patched`` branch that keeps it replaying.
``RECORD_HISTORIES=1 pytest tests/workflows/test_replay.py`` records the scenarios that have no
file yet (an existing file is never overwritten: delete it to record it again).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from core.contract import ConversationInput, ReminderRequest, ReminderResult, SessionSnapshot
from core.reach import FallbackTemplate, QuietHours
from core.vocabulary import ReminderOutcome, SessionState
from tests.support import eventually
from tests.workflows.harness import Conversation, conversation
from workflows.conversation import ConversationWorkflow

pytestmark = pytest.mark.timeout(120)

HISTORIES = Path(__file__).parent / "histories"
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)

Scenario = Callable[[Conversation], Awaitable[WorkflowHistory]]


def _replayer(*workflows: type) -> Replayer:
    return Replayer(
        workflows=list(workflows) or [ConversationWorkflow],
        data_converter=pydantic_data_converter,
    )


def _has(history: WorkflowHistory, attributes: str) -> bool:
    return any(event.WhichOneof("attributes") == attributes for event in history.events)


def _last(history: WorkflowHistory) -> HistoryEvent:
    return history.events[-1]


# -- the scenarios --------------------------------------------------------------------------------


async def reminded_then_expired(conv: Conversation) -> WorkflowHistory:
    handle = await conv.customer_writes()
    await conv.sleep(2 * HOUR + MINUTE)
    await eventually(conv.outbox, lambda items: len(items) == 1)
    await conv.customer_writes(profile_name=None)
    await conv.save_settings(expiry_hours=3)
    await handle.result()
    history = await handle.fetch_history()
    assert _has(history, "activity_task_completed_event_attributes")
    assert _has(history, "upsert_workflow_search_attributes_event_attributes")
    return history


async def continue_as_new(conv: Conversation) -> WorkflowHistory:
    handle = await conv.customer_writes(message_id="wamid.can-0")
    first_run = handle.result_run_id
    for index in range(1, 80):
        await conv.sleep(MINUTE)
        await conv.customer_writes(message_id=f"wamid.can-{index}")
    first = conv.env.client.get_workflow_handle(handle.id, run_id=first_run)
    history = await eventually(
        first.fetch_history,
        lambda h: _last(h).HasField("workflow_execution_continued_as_new_event_attributes"),
        timeout=60,
        interval=0.2,
    )
    session = await conv.session()
    assert session.message_count == 80
    return history


async def not_due_rearmed(conv: Conversation) -> WorkflowHistory:
    handle = await conv.customer_writes()
    await conv.sleep(HOUR)
    await conv.save_settings(expiry_hours=3, signal=False)  # only the fire-time check sees it
    await conv.sleep(HOUR + MINUTE)
    assert await conv.outbox() == []
    assert (await conv.session()).state is SessionState.WAITING
    await conv.sleep(HOUR)
    await eventually(conv.outbox, lambda items: len(items) == 1)
    await handle.result()
    history = await handle.fetch_history()
    completed = [
        event
        for event in history.events
        if event.HasField("activity_task_completed_event_attributes")
    ]
    assert len(completed) == 2  # "not due" first, then the send
    return history


async def paused_then_expired(conv: Conversation) -> WorkflowHistory:
    handle = await conv.customer_writes()
    await conv.sleep(HOUR)
    await conv.save_settings(enabled=False)
    await eventually(conv.session, lambda s: s.state is SessionState.PAUSED)
    final = await handle.result()
    assert final.state is SessionState.EXPIRED
    assert await conv.outbox() == []
    return await handle.fetch_history()


async def expired_at_start(conv: Conversation) -> WorkflowHistory:
    handle = await conv.customer_writes(ago=25 * HOUR)
    final = await handle.result()
    assert final.state is SessionState.EXPIRED
    history = await handle.fetch_history()
    assert not _has(history, "activity_task_scheduled_event_attributes")
    return history


async def settings_changed_then_reminded(conv: Conversation) -> WorkflowHistory:
    handle = await conv.customer_writes()
    await conv.save_settings(expiry_hours=5)
    await conv.sleep(HOUR)
    await conv.save_settings(expiry_hours=2)
    await eventually(
        conv.session, lambda s: s.expiry_hours == 2 and s.state is SessionState.WAITING
    )
    await conv.sleep(HOUR + MINUTE)
    await eventually(conv.outbox, lambda items: len(items) == 1)
    await handle.result()
    history = await handle.fetch_history()
    assert _has(history, "workflow_execution_signaled_event_attributes")
    return history


async def gave_up_then_settled(conv: Conversation) -> WorkflowHistory:
    real_attempt = conv.activities._attempt

    async def crashes(request: ReminderRequest) -> ReminderResult:
        raise RuntimeError("the database went away")

    conv.activities._attempt = crashes  # type: ignore[method-assign]
    try:
        handle = await conv.customer_writes(ago=24 * HOUR - 5 * MINUTE)
        final = await handle.result()
    finally:
        conv.activities._attempt = real_attempt  # type: ignore[method-assign]
    assert final.reminder_outcome is ReminderOutcome.FAILED
    history = await handle.fetch_history()
    assert _has(history, "activity_task_failed_event_attributes") or _has(
        history, "activity_task_timed_out_event_attributes"
    )
    assert [r.outcome for r in await conv.reminders()] == [ReminderOutcome.FAILED]
    return history


async def ambiguous_then_proved(conv: Conversation) -> WorkflowHistory:
    await conv.fail_next_sends(kind="accept_then_fail", status=500)
    handle = await conv.customer_writes()
    await conv.sleep(2 * HOUR + timedelta(seconds=5))  # not past the minute's wait for proof
    [accepted] = await eventually(conv.outbox, lambda items: len(items) == 1)
    await eventually(conv.reminders, lambda r: [x.outcome for x in r] == ["ambiguous"])
    await conv.status_arrives(accepted["callback_data"], message_id=accepted["id"])
    final = await handle.result()
    assert final.reminder_outcome is ReminderOutcome.SENT
    assert len(await conv.outbox()) == 1
    return await handle.fetch_history()


async def abandoned_when_customer_replied(conv: Conversation) -> WorkflowHistory:
    await conv.fail_next_sends(kind="http", status=429, code=130429, retry_after=3600)
    handle = await conv.customer_writes()
    await conv.sleep(2 * HOUR + MINUTE)
    await eventually(conv.reminders, lambda r: [x.outcome for x in r] == ["retrying"])
    await conv.customer_writes(profile_name=None)
    await eventually(
        conv.reminders,
        lambda r: [x.outcome for x in r] == [ReminderOutcome.SKIPPED_CUSTOMER_REPLIED],
    )
    final = await handle.result()
    assert final.reminder_outcome is ReminderOutcome.SENT  # the new silence's reminder
    return await handle.fetch_history()


async def quiet_hours_then_template(conv: Conversation) -> WorkflowHistory:
    start = await conv.now()
    clock = "%H:%M"
    quiet = QuietHours(
        start=(start + HOUR + MINUTE).strftime(clock),
        end=(start + 3 * HOUR + MINUTE).strftime(clock),
    )
    await conv.save_settings(
        quiet_hours=quiet,
        fallback_template=FallbackTemplate(
            name="we_miss_you", language="en", body_parameters=["{contact_firstname}"]
        ),
    )
    handle = await conv.customer_writes()
    await conv.sleep(3 * HOUR + 2 * MINUTE)
    await eventually(conv.outbox, lambda items: len(items) == 1)  # at the end of quiet hours
    final = await handle.result()  # the template at the window's close, then the end
    assert final.template_outcome is ReminderOutcome.SENT
    assert len(await conv.outbox()) == 2
    return await handle.fetch_history()


async def reminded_then_replied(conv: Conversation) -> WorkflowHistory:
    handle = await conv.customer_writes()
    await conv.sleep(2 * HOUR + MINUTE)
    [sent] = await eventually(conv.reminders, lambda r: len(r) == 1 and r[0].outcome == "sent")
    await conv.sleep(10 * MINUTE)
    await conv.customer_writes(message_id="wamid.reply")
    await eventually(conv.reminders, lambda r: r[-1].replied_at is not None)
    await handle.result()  # the reply's silence got its own reminder, then the window closed
    history = await handle.fetch_history()
    assert _has(history, "marker_recorded_event_attributes")  # the patch of recorded replies
    assert [r.reminder_id for r in await conv.reminders() if r.replied_at] == [sent.reminder_id]
    return history


SCENARIOS: dict[str, Scenario] = {
    scenario.__name__: scenario
    for scenario in (
        reminded_then_expired,
        continue_as_new,
        not_due_rearmed,
        paused_then_expired,
        expired_at_start,
        settings_changed_then_reminded,
        gave_up_then_settled,
        ambiguous_then_proved,
        abandoned_when_customer_replied,
        quiet_hours_then_template,
        reminded_then_replied,
    )
}


# -- the tests ------------------------------------------------------------------------------------


@pytest.fixture
async def conv(
    ts_env: WorkflowEnvironment, graph_sandbox: str, tmp_path: Path
) -> AsyncIterator[Conversation]:
    async with conversation(
        ts_env, sandbox_url=graph_sandbox, database_dir=tmp_path, max_history_events=100
    ) as world:
        yield world


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario_takes_its_path(name: str, conv: Conversation) -> None:
    """Live: the scenario still exercises its path (and is recorded with RECORD_HISTORIES=1)."""
    history = await SCENARIOS[name](conv)
    path = HISTORIES / f"{name}.json"
    if os.environ.get("RECORD_HISTORIES") and not path.exists():
        HISTORIES.mkdir(exist_ok=True)
        path.write_text(history.to_json())
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda path: path.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


def test_every_scenario_has_a_recorded_history() -> None:
    missing = set(SCENARIOS) - {path.stem for path in HISTORIES.glob("*.json")}
    assert not missing, f"record them with RECORD_HISTORIES=1: {sorted(missing)}"


@workflow.defn(name="ConversationWorkflow", sandboxed=False)
class _DriftedWorkflow(ConversationWorkflow):
    """The workflow with one plausible change: search attributes are no longer upserted."""

    @workflow.run
    async def run(self, input: ConversationInput) -> SessionSnapshot:
        return await super().run(input)

    def _publish(self, state: SessionState) -> None:
        self._state = state


async def test_the_guard_fails_on_a_drifted_workflow() -> None:
    history = WorkflowHistory.from_json(
        "drifted", (HISTORIES / "reminded_then_expired.json").read_text()
    )
    result = await _replayer(_DriftedWorkflow).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert isinstance(result.replay_failure, workflow.NondeterminismError)
