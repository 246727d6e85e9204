"""Settings reach: lowering the hours on an account with many waiting sessions.

Sessions: ``--sessions`` sessions of one account are opened through the API (signed webhooks),
each customer's message 90 minutes old, with ``expiry_hours = 23`` (nothing due). Then the
hours are lowered to 1 through ``PUT …/session-settings``: every session must be signalled by the
settings propagation (a visibility listing, 32 signals in flight), reload its settings, find
its reminder overdue and send it. Measured: from the PUT until the propagation run completed
(every session signalled), and until the last reminder reached the stand-in Graph API (paced at
80 per second for the one business number, Meta's limit, so that part is bounded by design).

Baseline (``bench.baseline.SignalBaselineWorkflow``): as many bare workflows, waiting; a
client signals them all (32 in flight) and each runs a no-op activity. Measured: from the
first signal until the last was accepted, and until the last workflow completed. Same server
and worker process, alternating rounds. Target: the sessions are signalled at ≥ 0.8 × the
baseline's rate, and every overdue reminder is sent.

    python -m bench.reach [--quick] [--sessions 10000] [--rounds 1]
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from bench.arm import until_waiting
from bench.baseline import BASELINE_TASK_QUEUE, GO_SIGNAL, MESSAGE_SIGNAL, SignalBaselineWorkflow
from bench.drain import GIVE_UP_AFTER
from bench.load import Population, WebhookSender, in_batches
from bench.report import alternate, cpu_per, parser, rate_by_mode, save, table
from bench.stack import Stack, open_stack
from core.clock import utc_now
from core.temporal_names import settings_workflow_id

TARGET_RATIO = 0.8
# How many reminders per second the wait allows at least: the worker sends some 30–100 per
# second on the 2-core bench machine, so 10,000 take minutes, not the drain's 180 s.
MIN_REMINDERS_PER_SECOND = 20


def give_up_after(count: int) -> float:
    """Seconds to wait for ``count`` reminders before reporting how many arrived."""
    return max(GIVE_UP_AFTER, count / MIN_REMINDERS_PER_SECOND)


async def sessions_round(stack: Stack, *, count: int, index: int) -> dict[str, Any]:
    (account,) = await stack.add_accounts(1, enabled=True, expiry_hours=23, prefix=f"reach{index}")
    population = Population([account], next_number=20_000_000 * (index + 1))
    written = utc_now() - timedelta(minutes=90)
    messages = [population.message(population.new_number(), sent_at=written) for _ in range(count)]
    numbers = {m.wa_id for m in messages}
    await in_batches(WebhookSender(stack.http).send, messages, batch=25, concurrency=4)
    query = f'AccountId = "{account.account_id}" AND SessionState = "waiting"'
    await until_waiting(stack, query, count, time.perf_counter())
    # The account's first save is still being delivered (a second pass follows 10 s after the
    # first): a save during that wait is only taken up after it, which is not what is measured.
    handle = stack.client.get_workflow_handle(settings_workflow_id(account.account_id))
    await handle.result()
    await stack.settle()
    stack.sandbox.messages.clear()
    before = stack.cpu()
    started, put_at = time.perf_counter(), time.time()
    await stack.save_settings(account, enabled=True, expiry_hours=1)
    # The PUT started the account's propagation run. Its first signal pass ends when every
    # session listed was signalled (a second pass follows 10 s later, for late starters).
    await handle.result()
    signalled_count, first_pass_at = await _first_signal_pass(handle, after=put_at)
    signalled = first_pass_at - put_at
    arrived: set[str] = set()
    deadline = started + give_up_after(count)
    while len(arrived) < count and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
        arrived |= {m.wa_id for m in stack.sandbox.messages if m.wa_id in numbers}
    elapsed = time.perf_counter() - started
    await stack.settle()
    return _row(
        "sessions",
        count,
        signalled=(signalled_count, signalled),
        reached=(len(arrived), elapsed),
        cpu=stack.cpu().minus(before),
    )


async def _first_signal_pass(
    handle: WorkflowHandle[Any, Any], *, after: float
) -> tuple[int, float]:
    """How many sessions the first ``signal_sessions`` completed after ``after`` (Unix time)
    signalled, and when it completed. (A run still delivering the account's previous save
    takes the new version too, so its history may begin before the PUT.)"""
    scheduled: dict[int, str] = {}
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            attributes = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attributes.activity_type.name
        elif event.HasField("activity_task_completed_event_attributes"):
            completed = event.activity_task_completed_event_attributes
            at = event.event_time.ToDatetime(UTC).timestamp()
            if scheduled.get(completed.scheduled_event_id) == "signal_sessions" and at >= after:
                return int(json.loads(completed.result.payloads[0].data)), at
    raise RuntimeError("the propagation run signalled no session after the save")


async def baseline_round(stack: Stack, *, count: int, index: int) -> dict[str, Any]:
    tag = f"reach-base{index}-{uuid.uuid4().hex[:6]}"
    client = stack.client
    semaphore = asyncio.Semaphore(32)

    async def start(number: int) -> None:
        async with semaphore:
            await client.start_workflow(
                SignalBaselineWorkflow.run,
                id=f"{tag}-{number}",
                task_queue=BASELINE_TASK_QUEUE,
                start_signal=MESSAGE_SIGNAL,
            )

    await asyncio.gather(*(start(n) for n in range(count)))
    await stack.settle()
    before = stack.cpu()
    started = time.perf_counter()

    async def signal(number: int) -> None:
        async with semaphore:
            await client.get_workflow_handle(f"{tag}-{number}").signal(GO_SIGNAL)

    await asyncio.gather(*(signal(n) for n in range(count)))
    signalled = time.perf_counter() - started
    query = f'WorkflowId STARTS_WITH "{tag}-" AND ExecutionStatus = "Completed"'
    elapsed = await until_waiting(stack, query, count, started)
    await stack.settle()
    return _row(
        "baseline",
        count,
        signalled=(count, signalled),
        reached=(count, elapsed),
        cpu=stack.cpu().minus(before),
    )


def _row(
    mode: str,
    count: int,
    *,
    signalled: tuple[int, float],
    reached: tuple[int, float],
    cpu: dict[str, float],
) -> dict[str, Any]:
    return {
        "mode": mode,
        "sessions": count,
        "signalled": signalled[0],
        "all_signalled_s": round(signalled[1], 2),
        "signal_rate_per_s": round(signalled[0] / signalled[1], 1),
        "reached": reached[0],
        "all_reached_s": round(reached[1], 2),
        "cpu_ms_per_session": cpu_per(cpu, count),
    }


async def main_async() -> None:
    args = _args()
    count = args.sessions or (1000 if args.quick else 10_000)
    rounds = args.rounds or 1
    async with open_stack(worker_processes=args.worker_processes, database=args.database) as stack:
        print(f"reach: {count} waiting sessions × {rounds} round(s) per mode", flush=True)

        async def run(mode: str, index: int) -> dict[str, Any]:
            one = sessions_round if mode == "sessions" else baseline_round
            return await one(stack, count=count, index=index)

        rows = await alternate(rounds, run)
        rates = rate_by_mode(rows, count="signalled", seconds="all_signalled_s")
        ratio = rates["sessions"] / rates["baseline"]
        complete = all(r["reached"] == r["sessions"] for r in rows)
        print(
            table(
                "settings reach (hours lowered → every overdue reminder sent)",
                [
                    "mode",
                    "sessions",
                    "all signalled s",
                    "signals/s",
                    "reminded",
                    "all reminded s",
                    "CPU ms/session",
                ],
                [
                    [
                        r["mode"],
                        r["sessions"],
                        r["all_signalled_s"],
                        r["signal_rate_per_s"],
                        r["reached"],
                        r["all_reached_s"],
                        " ".join(f"{k}={v}" for k, v in r["cpu_ms_per_session"].items()),
                    ]
                    for r in rows
                ],
            )
        )
        verdict = "meets" if ratio >= TARGET_RATIO and complete else "MISSES"
        print(
            f"signal rate sessions/baseline = {ratio:.3f}, every overdue reminder sent: "
            f"{complete} (target ≥ {TARGET_RATIO} and all sent: {verdict})"
        )
        path = save(
            "reach",
            {
                "quick": args.quick,
                "params": {
                    "sessions": count,
                    "rounds": rounds,
                    "worker_processes": args.worker_processes,
                    "database": args.database,
                },
                "rounds": rows,
                "rate_per_s": rates,
                "ratio": ratio,
                "every_reminder_sent": complete,
                "target": f">= {TARGET_RATIO}, every overdue reminder sent",
                "meets_target": ratio >= TARGET_RATIO and complete,
            },
            results_dir=args.results_dir,
        )
        print(f"result appended to {path}")


def _args() -> Any:
    p = parser(__doc__ or "")
    p.add_argument("--sessions", type=int, default=0, help="waiting sessions (10000, quick 1000)")
    p.add_argument("--rounds", type=int, default=0, help="rounds per mode (1)")
    return p.parse_args()


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
