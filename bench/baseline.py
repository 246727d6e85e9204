"""The bare-Temporal baseline of the drain benchmark: wait on one timer, run one no-op activity.

It is what the conversation workflow does when a reminder falls due, minus everything the
service adds (settings, database, rendering, the HTTP send, search attributes). The worker that
runs it has the same settings as the service's worker (``worker.MAX_CACHED_WORKFLOWS``, SDK
defaults otherwise) and lives in the same process (``bench.worker``).

The activity does nothing but report the wall-clock instant it ran, which the benchmark compares
with the due instant.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

BASELINE_TASK_QUEUE = "bench-baseline"


class BaselineInput(BaseModel):
    due_at: datetime


class BaselineResult(BaseModel):
    ran_at_unix: float


@activity.defn
async def noop() -> float:
    """The no-op: only says when it ran."""
    return time.time()


@workflow.defn
class TimerBaselineWorkflow:
    """Sleep until ``due_at`` on a durable timer, then run the no-op activity once."""

    @workflow.run
    async def run(self, input: BaselineInput) -> BaselineResult:
        delay = input.due_at - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay, summary="due")
        ran_at = await workflow.execute_activity(
            noop,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1)),
        )
        return BaselineResult(ran_at_unix=ran_at)


def build_baseline_worker(client: Client, *, max_cached_workflows: int) -> Worker:
    """The baseline's worker, with the same settings as ``worker.build_worker``."""
    return Worker(
        client,
        task_queue=BASELINE_TASK_QUEUE,
        workflows=[TimerBaselineWorkflow],
        activities=[noop],
        max_cached_workflows=max_cached_workflows,
    )


def utc_from_unix(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
