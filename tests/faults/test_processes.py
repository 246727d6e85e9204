"""Processes dying at the worst moment: exactly one reminder per customer all the same.

Real processes (``tests/faults/stack.py``): the worker SIGKILLed or SIGTERMed in the middle of
a burst of due reminders, the API SIGKILLed in the middle of a burst of webhooks (with Meta's
redelivery of what got no 200). docs/operating.md#reliability lists these guarantees.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core import temporal_names as names
from core.contract import SessionSnapshot
from core.vocabulary import ReminderOutcome
from tests.faults.stack import ProcessStack, process_stack
from tests.support import eventually
from whatsapp.sandbox import DelayFailure, sandbox_state
from workflows.conversation import ConversationWorkflow

pytestmark = [pytest.mark.devserver, pytest.mark.faults, pytest.mark.timeout(420)]

BURST = 200
PER_WEBHOOK = 25
HOUR = 3600


@pytest.fixture
async def faults(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[ProcessStack]:
    async with process_stack(dev_env.client, tmp_path) as stack:
        yield stack


def customers(count: int) -> list[str]:
    """WhatsApp ids (13 digits) no other test uses."""
    prefix = secrets.randbelow(10**9)
    return [f"1{prefix:09d}{n:03d}" for n in range(count)]


async def _burst_due_in(faults: ProcessStack, wa_ids: list[str], *, seconds: int) -> float:
    """Open one session per customer, all falling due in ``seconds``; returns the due instant.

    Meta takes a second to answer each send here, so that a fault always finds sends in flight.
    """
    await faults.create_account(expiry_hours=1)
    failures = sandbox_state(faults.sandbox).failures
    failures.extend(DelayFailure(kind="delay", seconds=1.0) for _ in wa_ids)
    due = int(time.time()) + seconds
    sent_at = due - HOUR
    for start in range(0, len(wa_ids), PER_WEBHOOK):
        chunk = wa_ids[start : start + PER_WEBHOOK]
        body, headers = faults.webhook([(wa_id, f"wamid.{wa_id}", sent_at) for wa_id in chunk])
        response = await faults.http.post("/webhooks/whatsapp", content=body, headers=headers)
        assert response.status_code == 200, response.text
    return float(due)


async def _mid_burst(faults: ProcessStack, *, due: float, at_least: int) -> int:
    """Wait until the burst has begun but is far from done; returns how many had gone out."""
    await asyncio.sleep(max(due - time.time(), 0))
    sent = await eventually(
        lambda: _count(faults), lambda n: n >= at_least, timeout=60, interval=0.02
    )
    assert sent < BURST, "the burst was over before the fault: nothing was tested"
    return sent


async def _retried_attempts(faults: ProcessStack, wa_ids: list[str]) -> list[str]:
    """Send attempts Temporal had to run again (a cancelled or lost attempt is retried), each
    with the failure of the attempt before it, so that a failure says why."""
    retried: list[str] = []
    for wa_id in wa_ids:
        handle = faults.temporal.get_workflow_handle(
            names.conversation_workflow_id(
                account_id=faults.account_id, conversation_key=faults.key(wa_id)
            )
        )
        async for event in handle.fetch_history_events():
            if event.HasField("activity_task_started_event_attributes"):
                started = event.activity_task_started_event_attributes
                if started.attempt > 1:
                    retried.append(
                        f"{wa_id}: attempt {started.attempt} after {started.last_failure.message!r}"
                    )
    return retried


async def _count(faults: ProcessStack) -> int:
    return len(faults.sent())


def one_each(faults: ProcessStack, wa_ids: list[str]) -> None:
    per_customer = Counter(message.wa_id for message in faults.sent())
    doubled = {wa_id: n for wa_id, n in per_customer.items() if n > 1}
    assert not doubled, f"reminders sent twice: {doubled}"
    assert set(per_customer) == set(wa_ids)


async def test_a_worker_killed_mid_burst_still_sends_exactly_one_each(
    faults: ProcessStack,
) -> None:
    wa_ids = customers(BURST)
    due = await _burst_due_in(faults, wa_ids, seconds=20)
    await _mid_burst(faults, due=due, at_least=20)
    await faults.worker.kill(signal.SIGKILL)
    await faults.start_worker()

    # Attempts the kill interrupted are retried after their timeout; what they may have sent
    # is proved by the stand-in's status webhooks, the rest is sent.
    records = await faults.settled(BURST)
    one_each(faults, wa_ids)
    assert set(records) == {ReminderOutcome.SENT}, records


async def test_a_worker_stopped_mid_burst_finishes_its_sends(faults: ProcessStack) -> None:
    wa_ids = customers(BURST)
    due = await _burst_due_in(faults, wa_ids, seconds=20)
    await _mid_burst(faults, due=due, at_least=20)
    exit_code = await faults.worker.kill(signal.SIGTERM)
    assert exit_code == 0, faults.worker.output()[-2000:]
    await faults.start_worker()

    records = await faults.settled(BURST)
    one_each(faults, wa_ids)
    assert set(records) == {ReminderOutcome.SENT}, records
    # Nothing was cut off mid-send: every send attempt completed on its first try.
    assert await _retried_attempts(faults, wa_ids) == []
    assert await faults.interrupted() == 0


async def test_an_api_killed_mid_burst_loses_nothing_once_meta_redelivers(
    faults: ProcessStack,
) -> None:
    await faults.create_account(expiry_hours=1)
    wa_ids = customers(120)
    sent_at = int(time.time()) - HOUR + 25  # due 25 s from now
    bodies = {wa_id: faults.webhook([(wa_id, f"wamid.{wa_id}", sent_at)]) for wa_id in wa_ids}
    acknowledged: set[str] = set()
    semaphore = asyncio.Semaphore(8)

    async def post(wa_id: str) -> None:
        body, headers = bodies[wa_id]
        async with semaphore:
            try:
                response = await faults.http.post(
                    "/webhooks/whatsapp", content=body, headers=headers
                )
            except httpx.HTTPError:
                return  # no answer: Meta will deliver it again
        if response.status_code == 200:
            acknowledged.add(wa_id)

    posting = asyncio.gather(*(post(wa_id) for wa_id in wa_ids))
    await eventually(lambda: _acknowledged(acknowledged), lambda n: n >= 20, interval=0.01)
    await faults.api.kill(signal.SIGKILL)
    await posting
    assert len(acknowledged) < len(wa_ids), "every webhook got through before the kill"

    await faults.start_api()
    # Meta redelivers whatever got no 200 (and sometimes what did: duplicates are harmless).
    for wa_id in [*sorted(set(wa_ids) - acknowledged), *sorted(acknowledged)[:10]]:
        await post(wa_id)
    assert acknowledged == set(wa_ids)

    for wa_id in wa_ids:  # every message reflected exactly once
        session_id = names.conversation_workflow_id(
            account_id=faults.account_id, conversation_key=faults.key(wa_id)
        )
        handle = faults.temporal.get_workflow_handle(session_id, result_type=SessionSnapshot)
        session = await handle.query(ConversationWorkflow.session)
        assert session.message_count == 1
    await faults.settled(len(wa_ids))
    one_each(faults, wa_ids)


async def _acknowledged(acknowledged: set[str]) -> int:
    return len(acknowledged)
