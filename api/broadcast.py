"""Telling every running session of an account that its settings changed (docs/sessions.md).

First choice: one server-side batch job, ``StartBatchOperation`` with a ``settings_changed``
signal for the visibility query ``AccountId = "<id>" AND ExecutionStatus = "Running"``
(``core.visibility.account_sessions``). The server
fans it out, so saving settings costs one RPC however many sessions are open.

Fallback, when the server will not run a batch job (UNIMPLEMENTED on the time-skipping test
server; RESOURCE_EXHAUSTED when the namespace's concurrent batch jobs are used up; refused by
permissions or configuration): list the same query and signal each run, at most
``MAX_CONCURRENT_SIGNALS`` at once. A server that cannot list either (the time-skipping server
again) gets no broadcast; that is reported, not raised, because the activity re-reads the
settings at fire time anyway.

Any other failure is ``ServiceUnavailable``: the settings are saved, and saving again (PUT is
idempotent) repeats the broadcast.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Literal

from temporalio.api.batch.v1 import BatchOperationSignal
from temporalio.api.common.v1 import Payloads
from temporalio.api.workflowservice.v1 import StartBatchOperationRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.errors import temporal_call
from core.contract import SettingsChanged
from core.temporal_names import SETTINGS_CHANGED_SIGNAL
from core.visibility import account_sessions
from workflows.conversation import ConversationWorkflow

logger = logging.getLogger(__name__)

MAX_CONCURRENT_SIGNALS = 32

# Server answers that mean "not this way", as opposed to "not now".
_NO_BATCH = frozenset(
    {
        RPCStatusCode.UNIMPLEMENTED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.FAILED_PRECONDITION,
        RPCStatusCode.PERMISSION_DENIED,
        RPCStatusCode.INVALID_ARGUMENT,
    }
)


@dataclass(frozen=True)
class BroadcastResult:
    method: Literal["batch", "list", "unsupported"]
    signalled: int | None = None
    job_id: str | None = None


async def broadcast_settings_changed(client: Client, *, account_id: str) -> BroadcastResult:
    """Signal ``settings_changed`` to every running session of the account."""
    change = SettingsChanged()
    query = account_sessions(account_id)
    with temporal_call():
        try:
            job_id = await _start_batch(client, query=query, change=change, account_id=account_id)
            logger.info("settings of %s: batch signal job %s started", account_id, job_id)
            return BroadcastResult(method="batch", job_id=job_id)
        except RPCError as err:
            if err.status not in _NO_BATCH:
                raise
            logger.info(
                "settings of %s: no batch job (%s); signalling each session",
                account_id,
                err.status.name,
            )
        try:
            signalled = await _signal_each(client, query=query, change=change)
        except RPCError as err:
            if err.status != RPCStatusCode.UNIMPLEMENTED:
                raise
            logger.warning(
                "settings of %s: this Temporal server can neither batch-signal nor list "
                "workflows; running sessions pick the change up when their timer fires",
                account_id,
            )
            return BroadcastResult(method="unsupported")
    logger.info("settings of %s: signalled %d running session(s)", account_id, signalled)
    return BroadcastResult(method="list", signalled=signalled)


async def _start_batch(
    client: Client, *, query: str, change: SettingsChanged, account_id: str
) -> str:
    job_id = str(uuid.uuid4())
    payloads = await client.data_converter.encode([change])
    await client.workflow_service.start_batch_operation(
        StartBatchOperationRequest(
            namespace=client.namespace,
            job_id=job_id,
            reason=f"session settings of account {account_id} changed",
            visibility_query=query,
            signal_operation=BatchOperationSignal(
                signal=SETTINGS_CHANGED_SIGNAL,
                input=Payloads(payloads=payloads),
                identity=client.identity,
            ),
        ),
        # No client-side retries: RESOURCE_EXHAUSTED (one batch job per namespace at a time by
        # default) must reach the caller at once so it falls back to list-and-signal instead of
        # waiting for another account's job to finish.
        retry=False,
    )
    return job_id


async def _signal_each(client: Client, *, query: str, change: SettingsChanged) -> int:
    semaphore = asyncio.Semaphore(MAX_CONCURRENT_SIGNALS)

    async def signal(workflow_id: str, run_id: str) -> int:
        async with semaphore:
            handle = client.get_workflow_handle_for(
                ConversationWorkflow.run, workflow_id, run_id=run_id
            )
            try:
                await handle.signal(ConversationWorkflow.settings_changed, change)
            except RPCError as err:
                # The run completed between the listing and the signal: nothing to tell.
                if err.status == RPCStatusCode.NOT_FOUND:
                    return 0
                raise
            return 1

    tasks: list[asyncio.Task[int]] = []
    try:
        async for execution in client.list_workflows(query):
            tasks.append(asyncio.create_task(signal(execution.id, execution.run_id)))
        return sum(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
