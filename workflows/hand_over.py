"""The webhook hand-over workflow: the signals of a large webhook POST the API did not send
itself, so that it could answer Meta in time (docs/sessions.md#a-large-webhook-post).

One activity, retried until every conversation of the batch has its signal or a day has
passed (by then no message of the batch could earn a reminder). Orchestration only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.hand_over import HandOverActivities
    from core import temporal_names as names
    from core.contract import HandOverBatch
    from core.window import WINDOW

# One attempt signals a whole batch (at most a few thousand signals, 32 at a time).
ATTEMPT_TIMEOUT = timedelta(minutes=10)
HEARTBEAT_TIMEOUT = timedelta(minutes=1)
RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


@workflow.defn(name=names.HAND_OVER_WORKFLOW)
class WebhookHandOverWorkflow:
    """Signals the conversations of one hand-over batch."""

    @workflow.run
    async def run(self, batch: HandOverBatch) -> int:
        return await workflow.execute_activity_method(
            HandOverActivities.hand_over,
            batch,
            start_to_close_timeout=ATTEMPT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            schedule_to_close_timeout=WINDOW,
            retry_policy=RETRY_POLICY,
            summary=f"signal {len(batch.items)} conversation(s)",
        )
