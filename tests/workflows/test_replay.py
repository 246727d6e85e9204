"""Determinism guard: recorded histories must replay on the current workflow code.

Production has sessions that are hours into their run when a new worker version starts; the new
code must make the same decisions, in the same order, as the code that wrote their histories so
far. ``histories/*.json`` are real runs of the conversation workflow, one per path through it:

- ``reminded_then_expired``: reminder sent, the customer wrote again, settings saved, window closed;
- ``continue_as_new``: a long conversation handing its state to the next run;
- ``not_due_rearmed``: hours raised without a signal, so the fire-time check says "not due" and
  the timer is armed again;
- ``paused_then_expired``: reminders disabled while waiting;
- ``activity_gave_up``: the send activity failed for good (Meta asked to retry after the window);
- ``expired_at_start``: a run whose first message was already older than the window;
- ``settings_changed_then_reminded``: hours lowered by a settings signal, reminder at the new time.

Each scenario below also runs live against the time-skipping server and checks that it still
takes its path, so re-recording produces a history worth keeping. The committed files are what
guards determinism: they were recorded by earlier code, and a change that would break running
sessions fails ``test_recorded_history_replays``. After an intentional, versioned change
(``workflow.patched``), re-record with ``RECORD_HISTORIES=1 pytest tests/workflows/test_replay.py``
and commit the new files next to the old ones.
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

from core.contract import ConversationInput, SessionSnapshot
from core.vocabulary import SessionState
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


async def activity_gave_up(conv: Conversation) -> WorkflowHistory:
    # Meta asks to retry in an hour; the window closes in five minutes, so Temporal gives up.
    await conv.fail_next_sends(kind="http", status=429, code=130429, retry_after=3600, times=1)
    handle = await conv.customer_writes(ago=24 * HOUR - 5 * MINUTE)
    final = await handle.result()
    assert final.state is SessionState.EXPIRED
    history = await handle.fetch_history()
    assert _has(history, "activity_task_failed_event_attributes")
    return history


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


SCENARIOS: dict[str, Scenario] = {
    scenario.__name__: scenario
    for scenario in (
        reminded_then_expired,
        continue_as_new,
        not_due_rearmed,
        paused_then_expired,
        activity_gave_up,
        expired_at_start,
        settings_changed_then_reminded,
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
    if os.environ.get("RECORD_HISTORIES"):
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(history.to_json())
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_recorded_history_replays(name: str) -> None:
    path = HISTORIES / f"{name}.json"
    assert path.exists(), f"{path.name} is missing: record it with RECORD_HISTORIES=1"
    history = WorkflowHistory.from_json(name, path.read_text())
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


def test_every_recorded_history_has_a_scenario() -> None:
    assert {path.stem for path in HISTORIES.glob("*.json")} == set(SCENARIOS)


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
