"""docs/operating.md#temporal-web-ui: what an operator sees of a session in the Temporal Web UI.

The Web UI shows a run's current details (the ``__temporal_workflow_metadata`` query), the
summaries of its timers and activities (event user metadata) and its search attributes; these
tests read the same things through the client.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from tests.support import eventually
from tests.workflows.harness import Conversation, conversation

HOUR = timedelta(hours=1)


@pytest.fixture
async def conv(
    ts_env: WorkflowEnvironment, graph_sandbox: str, tmp_path: Path
) -> AsyncIterator[Conversation]:
    async with conversation(ts_env, sandbox_url=graph_sandbox, database_dir=tmp_path) as world:
        yield world


def _summaries(history: WorkflowHistory, attribute: str) -> list[str]:
    return [
        json.loads(event.user_metadata.summary.data)
        for event in history.events
        if event.WhichOneof("attributes") == attribute and event.user_metadata.HasField("summary")
    ]


async def test_current_details_tell_the_sessions_story(conv: Conversation) -> None:
    handle = await conv.customer_writes()
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    details = metadata.current_details
    assert details.startswith("**waiting**")
    assert "customer last wrote" in details
    assert "reminder due" in details
    assert "window closes" in details
    assert "15550001111" not in details  # no phone number anywhere in Temporal

    await conv.sleep(2 * HOUR + timedelta(minutes=1))
    await eventually(conv.outbox, lambda items: len(items) == 1)
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert metadata.current_details.startswith("**reminded**")
    assert "last reminder: sent" in metadata.current_details


async def test_timers_and_the_send_are_named(conv: Conversation) -> None:
    handle = await conv.customer_writes()
    await conv.sleep(2 * HOUR + timedelta(minutes=1))
    await eventually(conv.outbox, lambda items: len(items) == 1)
    history = await handle.fetch_history()
    timers = _summaries(history, "timer_started_event_attributes")
    assert timers[:2] == ["reminder due", "window closes"]
    assert _summaries(history, "activity_task_scheduled_event_attributes") == ["send reminder"]
    assert "15550001111" not in history.to_json()
