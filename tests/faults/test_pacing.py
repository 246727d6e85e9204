"""One business number, two worker processes: together they keep the number's send rate.

Real processes (``tests/faults/stack.py``): two ``python worker.py`` on one task queue and one
database, a burst of reminders of one number falling due in the same second, and the stand-in
Graph API timing each message it receives (docs/sending.md#pacing).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from core.vocabulary import ReminderOutcome
from tests.faults.stack import ProcessStack, process_stack
from tests.faults.test_processes import HOUR, PER_WEBHOOK, customers, one_each

pytestmark = [pytest.mark.devserver, pytest.mark.faults, pytest.mark.timeout(420)]

# Low enough that each worker alone could send faster: without a pacer shared between them,
# the two would send at twice the rate.
RATE = 40
BURST = 300


@pytest.fixture
async def two_workers(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[ProcessStack]:
    env = {"SEND_RATE_PER_SECOND": str(RATE), "SEND_BURST": "1"}
    # No status webhooks: the stand-in, in this test's process, only times what it receives.
    async with process_stack(
        dev_env.client, tmp_path, workers=2, env=env, status_webhooks=False
    ) as stack:
        yield stack


def busiest_second(times: list[datetime]) -> int:
    """The most messages received within any one second (a window starting at each one)."""
    ordered = sorted(times)
    end, most = 0, 0
    for start, moment in enumerate(ordered):
        while end < len(ordered) and ordered[end] < moment + timedelta(seconds=1):
            end += 1
        most = max(most, end - start)
    return most


def test_the_busiest_second_is_counted_over_sliding_windows() -> None:
    t0 = datetime(2026, 12, 6, 12, 0, 0)
    at = [t0 + timedelta(seconds=s) for s in (0.0, 0.5, 0.9, 1.0, 1.4, 1.45, 1.8, 3.0)]
    # 1.0, 1.4, 1.45, 1.8 fall within [1.0, 2.0); 0.5 … 1.45 within [0.5, 1.5) too.
    assert busiest_second(at) == 5


async def test_two_workers_together_keep_one_numbers_rate(two_workers: ProcessStack) -> None:
    faults = two_workers
    await faults.create_account(expiry_hours=1)
    wa_ids = customers(BURST)
    sent_at = int(time.time()) + 12 - HOUR  # every reminder due 12 s from now
    for start in range(0, BURST, PER_WEBHOOK):
        chunk = wa_ids[start : start + PER_WEBHOOK]
        body, headers = faults.webhook([(wa_id, f"wamid.{wa_id}", sent_at) for wa_id in chunk])
        response = await faults.http.post("/webhooks/whatsapp", content=body, headers=headers)
        assert response.status_code == 200, response.text

    records = await faults.settled(BURST)
    assert records == {ReminderOutcome.SENT: BURST}  # nothing dropped
    one_each(faults, wa_ids)

    # The busiest second is the rate, within 10 %: never above it, and not held below it.
    received = [message.received_at for message in faults.sent()]
    assert RATE * 0.9 <= busiest_second(received) <= RATE * 1.1
    # Both processes sent: the rate held across them, not because one did all the work.
    per_worker = await faults.sent_by_each_worker()
    assert sum(per_worker) == BURST
    assert min(per_worker) >= BURST // 5, per_worker
