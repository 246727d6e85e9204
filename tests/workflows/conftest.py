"""The workflow tests move the clock, so they get a time-skipping server of their own.

Time skipping is global to a test server: a run that another suite left waiting without a
worker would otherwise stall these tests' ``env.sleep``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import start_time_skipping


@pytest.fixture(scope="package")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()
