"""Determinism guard: recorded histories must replay on the current workflow code.

``histories/*.json`` were recorded from real runs (reminder sent, customer wrote again, window
closed; and a run with a settings change). A change to ``ConversationWorkflow`` that would break
running sessions in production fails here. After an intentional, versioned change, re-record
with ``RECORD_HISTORIES=1 pytest tests/workflows/test_replay.py``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.support import eventually
from tests.workflows.harness import Conversation, conversation
from workflows.conversation import ConversationWorkflow

HISTORIES = Path(__file__).parent / "histories"
HOUR = timedelta(hours=1)


@pytest.fixture
async def conv(
    ts_env: WorkflowEnvironment, graph_sandbox: str, tmp_path: Path
) -> AsyncIterator[Conversation]:
    async with conversation(ts_env, sandbox_url=graph_sandbox, database_dir=tmp_path) as world:
        yield world


async def _reminded_then_expired(conv: Conversation) -> WorkflowHistory:
    handle = await conv.customer_writes()
    await conv.sleep(2 * HOUR + timedelta(minutes=1))
    await eventually(conv.outbox, lambda items: len(items) == 1)
    await conv.customer_writes(profile_name=None)
    await conv.save_settings(expiry_hours=3)
    await handle.result()
    return await handle.fetch_history()


def _replayer() -> Replayer:
    return Replayer(workflows=[ConversationWorkflow], data_converter=pydantic_data_converter)


async def test_fresh_history_replays(conv: Conversation) -> None:
    history = await _reminded_then_expired(conv)
    kinds = {event.WhichOneof("attributes") for event in history.events}
    assert "activity_task_completed_event_attributes" in kinds
    assert "workflow_execution_signaled_event_attributes" in kinds
    assert "upsert_workflow_search_attributes_event_attributes" in kinds
    if os.environ.get("RECORD_HISTORIES"):
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / "reminded_then_expired.json").write_text(history.to_json())
    result = await _replayer().replay_workflow(history)
    assert result.replay_failure is None


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("recorded", path.read_text())
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


def test_recorded_histories_are_present() -> None:
    assert list(HISTORIES.glob("*.json")), "record them with RECORD_HISTORIES=1"
