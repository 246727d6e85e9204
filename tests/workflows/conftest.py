"""The workflow tests move the clock, so each module gets a time-skipping server of its own.

Time skipping is global to a test server: a run that another suite (or a failed test) left
waiting without a worker would otherwise stall every later ``env.sleep``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import start_time_skipping


@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()
