"""The workflow tests move the clock, so each module gets a time-skipping server of its own.

Time skipping is global to a test server: a run that another suite (or a failed test) left
waiting without a worker would otherwise stall every later ``env.sleep``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import start_time_skipping
from tests.workflows.harness import Conversation, conversation


@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def conv(
    ts_env: WorkflowEnvironment, graph_sandbox: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Conversation]:
    """One conversation's world; ``with_options(...)`` passes options to ``conversation``."""
    options = getattr(request, "param", {})
    async with conversation(
        ts_env, sandbox_url=graph_sandbox, database_dir=tmp_path, **options
    ) as world:
        yield world


def with_options(**options: object) -> pytest.MarkDecorator:
    """Run the test with a ``conv`` built with these options."""
    return pytest.mark.parametrize("conv", [options], indirect=True)
