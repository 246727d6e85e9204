"""The bare-Temporal baseline of the drain benchmark: wait on one timer, run one no-op activity.

It is what the conversation workflow does when a reminder falls due, minus everything the
service adds (settings, database, rendering, the HTTP send, search attributes). The worker that
runs it has the same settings as the service's worker (``worker.MAX_CACHED_WORKFLOWS``, the same
workflow runner, SDK defaults otherwise) and lives in the same process (``bench.worker``).

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
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

with workflow.unsafe.imports_passed_through():
    from core.temporal_names import SESSION_STATE

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


GO_SIGNAL = "go"
MESSAGE_SIGNAL = "message"


@workflow.defn
class SignalBaselineWorkflow:
    """Take signals and sleep, the bare shape of a session.

    Arming: started by signal-with-start (a ``message``), its first task marks it ``waiting``
    (one search attribute, as a session's first task does) and it sleeps on a timer. Reach: a
    ``go`` signal makes it run the no-op activity once, then it completes.
    """

    def __init__(self) -> None:
        self._go = False
        self._messages = 0

    @workflow.signal(name=MESSAGE_SIGNAL)
    def message(self, _message: object = None) -> None:
        """What the start signal carries: a customer message, only counted."""
        self._messages += 1

    @workflow.signal(name=GO_SIGNAL)
    def go(self, _message: object = None) -> None:
        self._go = True

    @workflow.run
    async def run(self) -> BaselineResult:
        workflow.upsert_search_attributes([SESSION_STATE.value_set("waiting")])
        await workflow.wait_condition(lambda: self._go, timeout=timedelta(hours=23))
        ran_at = await workflow.execute_activity(
            noop,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1)),
        )
        return BaselineResult(ran_at_unix=ran_at)


def build_baseline_worker(client: Client, *, max_cached_workflows: int, sandboxed: bool) -> Worker:
    """The baseline's worker, with the same settings as ``worker.build_worker`` (the same cache
    size, the same workflow runner: a sandbox-free service is compared with a sandbox-free
    baseline)."""
    return Worker(
        client,
        task_queue=BASELINE_TASK_QUEUE,
        workflows=[TimerBaselineWorkflow, SignalBaselineWorkflow],
        activities=[noop],
        max_cached_workflows=max_cached_workflows,
        workflow_runner=SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner(),
    )


def utc_from_unix(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
