"""Arming: a burst of first messages from new customers, until every session is ``waiting``.

The ingest rate alone hides a backlog: the API may accept messages faster than the worker runs
each new session's first task (start, first signal, settings, search attributes, timer). This
measures the whole way: from the first POST until a visibility count says every new session of
the round is ``waiting``.

Sessions: ``--sessions`` new customers of one fresh account, as signed webhooks of 25 messages,
4 POSTs in flight. Baseline (``bench.baseline.SignalBaselineWorkflow``): as many bare workflows
started by signal-with-start from a client, 32 in flight, each marking itself ``waiting`` in its
first task (one search attribute) and sleeping. Same server, same worker process, alternating
rounds. Target: sessions reach ``waiting`` at ≥ 0.8 × the baseline's rate.

    python -m bench.arm [--quick] [--sessions 1000] [--rounds 2]
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from bench.baseline import BASELINE_TASK_QUEUE, MESSAGE_SIGNAL, SignalBaselineWorkflow
from bench.load import Population, WebhookSender, in_batches
from bench.report import alternate, cpu_per, parser, rate_by_mode, save, table
from bench.stack import Stack, open_stack
from core.temporal_names import ACCOUNT_ID

TARGET_RATIO = 0.8
GIVE_UP_AFTER = 600.0


async def until_waiting(stack: Stack, query: str, count: int, started: float) -> float:
    """Seconds from ``started`` until ``count`` workflows match ``query`` (visibility)."""
    deadline = started + GIVE_UP_AFTER
    while time.perf_counter() < deadline:
        if (await stack.client.count_workflows(query)).count >= count:
            return time.perf_counter() - started
        await asyncio.sleep(0.2)
    raise TimeoutError(f"fewer than {count} workflows match {query!r}")


async def sessions_round(stack: Stack, *, count: int, index: int) -> dict[str, Any]:
    (account,) = await stack.add_accounts(1, enabled=True, expiry_hours=23, prefix=f"arm{index}")
    population = Population([account], next_number=10_000_000 * (index + 1))
    messages = [population.message(population.new_number()) for _ in range(count)]
    await stack.settle()
    before = stack.cpu()
    started = time.perf_counter()
    await in_batches(WebhookSender(stack.http).send, messages, batch=25, concurrency=4)
    accepted = time.perf_counter() - started
    query = f'AccountId = "{account.account_id}" AND SessionState = "waiting"'
    elapsed = await until_waiting(stack, query, count, started)
    await stack.settle()
    return _row("sessions", count, elapsed, accepted, stack.cpu().minus(before))


async def baseline_round(stack: Stack, *, count: int, index: int) -> dict[str, Any]:
    tag = f"arm-base{index}-{uuid.uuid4().hex[:6]}"
    semaphore = asyncio.Semaphore(32)
    client = stack.client
    await stack.settle()
    before = stack.cpu()
    started = time.perf_counter()

    async def start(number: int) -> None:
        async with semaphore:
            await client.start_workflow(
                SignalBaselineWorkflow.run,
                id=f"{tag}-{number}",
                task_queue=BASELINE_TASK_QUEUE,
                start_signal=MESSAGE_SIGNAL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=TypedSearchAttributes([SearchAttributePair(ACCOUNT_ID, tag)]),
            )

    await asyncio.gather(*(start(n) for n in range(count)))
    accepted = time.perf_counter() - started
    elapsed = await until_waiting(
        stack, f'AccountId = "{tag}" AND SessionState = "waiting"', count, started
    )
    await stack.settle()
    return _row("baseline", count, elapsed, accepted, stack.cpu().minus(before))


def _row(
    mode: str, count: int, elapsed: float, accepted: float, cpu: dict[str, float]
) -> dict[str, Any]:
    return {
        "mode": mode,
        "sessions": count,
        "accepted_s": round(accepted, 2),
        "all_waiting_s": round(elapsed, 2),
        "rate_per_s": round(count / elapsed, 1),
        "cpu_ms_per_session": cpu_per(cpu, count),
    }


async def main_async() -> None:
    args = _args()
    count = args.sessions or (300 if args.quick else 1000)
    rounds = args.rounds or (1 if args.quick else 2)
    async with open_stack(worker_processes=args.worker_processes, database=args.database) as stack:
        print(f"arm: {count} new sessions × {rounds} round(s) per mode", flush=True)

        async def run(mode: str, index: int) -> dict[str, Any]:
            one = sessions_round if mode == "sessions" else baseline_round
            return await one(stack, count=count, index=index)

        rows = await alternate(rounds, run)
        rates = rate_by_mode(rows, count="sessions", seconds="all_waiting_s")
        ratio = rates["sessions"] / rates["baseline"]
        print(
            table(
                "arming (first message → waiting)",
                ["mode", "sessions", "accepted s", "all waiting s", "rate/s", "CPU ms/session"],
                [
                    [
                        r["mode"],
                        r["sessions"],
                        r["accepted_s"],
                        r["all_waiting_s"],
                        r["rate_per_s"],
                        " ".join(f"{k}={v}" for k, v in r["cpu_ms_per_session"].items()),
                    ]
                    for r in rows
                ],
            )
        )
        verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
        print(f"arming rate sessions/baseline = {ratio:.3f} (target ≥ {TARGET_RATIO}: {verdict})")
        path = save(
            "arm",
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
                "target": f">= {TARGET_RATIO}",
                "meets_target": ratio >= TARGET_RATIO,
            },
            results_dir=args.results_dir,
        )
        print(f"result appended to {path}")


def _args() -> Any:
    p = parser(__doc__ or "")
    p.add_argument("--sessions", type=int, default=0, help="new sessions per round (1000, 300)")
    p.add_argument("--rounds", type=int, default=0, help="rounds per mode (2, quick 1)")
    return p.parse_args()


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
