"""Many open sessions: worker memory and ingest rate at size vs empty.

1. The worker's resident memory (``VmRSS`` of the worker subprocess) right after start.
2. Ingest rate on a nearly empty server: alternating closed-loop rounds, webhook and bare
   (as ``bench.ingest``), half new conversations, half existing ones.
3. Fill: open sessions (bare signal-with-start, new conversations, expiry 23 h so that no
   reminder fires) until ``--sessions`` are open, sampling the worker's memory as it grows.
4. Ingest rate again, the "existing" half now spread over *all* open sessions, so most signals
   hit a workflow that is not in the worker's cache (it holds ``worker.MAX_CACHED_WORKFLOWS``).

Targets: worker memory bounded by its cache, not by the number of sessions; ingest rate at size
within 20 % of the empty rate (ratio ≥ 0.8, per mode).

    python -m bench.scale [--quick] [--sessions 100000]
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.ingest import run_rounds, summarize, warm_up
from bench.load import Population, in_batches, signal_with_start
from bench.procs import rss_mib
from bench.report import parser, save, table
from bench.stack import Stack, open_stack
from worker import MAX_CACHED_WORKFLOWS

TARGET_RATIO = 0.8


async def fill(
    stack: Stack, population: Population, *, total: int, concurrency: int, samples: int = 10
) -> list[dict[str, Any]]:
    """Open sessions until ``total`` exist; returns memory samples along the way."""
    points: list[dict[str, Any]] = []
    start_count = population.size
    step = max(1, (total - start_count) // samples)
    started = time.perf_counter()

    async def one(chunk: Any) -> None:
        for message in chunk:
            await signal_with_start(stack.client, stack, message)

    while population.size < total:
        numbers = [population.new_number() for _ in range(min(step, total - population.size))]
        await in_batches(
            one, [population.message(n) for n in numbers], batch=1, concurrency=concurrency
        )
        population.existing.extend(numbers)
        point = {
            "sessions": population.size,
            "worker_rss_mib": round(rss_mib(stack.pids["worker"]), 1),
            "elapsed_s": round(time.perf_counter() - started, 1),
        }
        points.append(point)
        print(f"  filled {point}", flush=True)
    settle = await stack.settle(timeout=900)
    points.append(
        {
            "sessions": population.size,
            "worker_rss_mib": round(rss_mib(stack.pids["worker"]), 1),
            "elapsed_s": round(time.perf_counter() - started, 1),
            "note": f"after the worker caught up ({settle:.0f}s)",
        }
    )
    print(f"  filled {points[-1]}", flush=True)
    return points


async def main_async() -> None:
    args = _args()
    quick = args.quick
    total = args.sessions or (5_000 if quick else 100_000)
    rounds = args.rounds or (1 if quick else 2)
    duration = args.duration or (3.0 if quick else 10.0)
    async with open_stack(worker_processes=args.worker_processes, database=args.database) as stack:
        accounts = await stack.add_accounts(args.accounts, enabled=True, expiry_hours=23)
        population = Population(accounts)
        rss_start = rss_mib(stack.pids["worker"])
        print(
            f"scale: {total} sessions; {rounds} round(s) × {duration:.0f}s per mode at "
            f"concurrency {args.concurrency}; worker RSS at start {rss_start:.1f} MiB",
            flush=True,
        )
        await warm_up(stack, population, conversations=200)
        empty_results = await run_rounds(
            stack,
            population,
            rounds=rounds,
            duration=duration,
            concurrency=args.concurrency,
            new_fraction=0.5,
        )
        empty = summarize(empty_results)
        rss_after_empty = rss_mib(stack.pids["worker"])
        sessions_at_empty = population.size

        points = await fill(stack, population, total=total, concurrency=args.fill_concurrency)

        full_results = await run_rounds(
            stack,
            population,
            rounds=rounds,
            duration=duration,
            concurrency=args.concurrency,
            new_fraction=0.5,
            seed=100,
        )
        full = summarize(full_results)
        rss_after_full = rss_mib(stack.pids["worker"])
        ratios = {mode: full[mode]["rate"] / empty[mode]["rate"] for mode in ("bare", "webhook")}
        memory_growth = rss_after_full - rss_after_empty

        print(
            table(
                "ingest rate at size vs empty (msg/s, closed loop)",
                ["mode", f"empty (~{sessions_at_empty})", f"at {population.size}", "ratio"],
                [[mode, empty[mode]["rate"], full[mode]["rate"], ratios[mode]] for mode in empty],
            )
        )
        print(
            table(
                "worker memory",
                ["when", "sessions", "VmRSS MiB"],
                [
                    ["start", 0, rss_start],
                    ["after empty rounds", sessions_at_empty, rss_after_empty],
                    *[["fill", p["sessions"], p["worker_rss_mib"]] for p in points],
                    ["after rounds at size", population.size, rss_after_full],
                ],
            )
        )
        print(
            f"webhook ratio size/empty = {ratios['webhook']:.3f}, bare = {ratios['bare']:.3f} "
            f"(target ≥ {TARGET_RATIO}); worker RSS grew {memory_growth:.1f} MiB from "
            f"~{sessions_at_empty} to {population.size} sessions (cache: "
            f"{MAX_CACHED_WORKFLOWS} workflows)"
        )
        path = save(
            "scale",
            {
                "quick": quick,
                "params": {
                    "sessions": total,
                    "rounds": rounds,
                    "duration_s": duration,
                    "concurrency": args.concurrency,
                    "fill_concurrency": args.fill_concurrency,
                    "accounts": args.accounts,
                    "max_cached_workflows": MAX_CACHED_WORKFLOWS,
                },
                "temporal_journal_mode": stack.temporal_journal_mode,
                "sessions_open": population.size,
                "sessions_at_empty": sessions_at_empty,
                "worker_rss_mib": {
                    "start": rss_start,
                    "after_empty_rounds": rss_after_empty,
                    "fill": points,
                    "after_rounds_at_size": rss_after_full,
                },
                "empty": empty,
                "at_size": full,
                "ratio_size_over_empty": ratios,
                "target": f"ratio >= {TARGET_RATIO}; RSS bounded by the cache",
                "meets_ratio": {mode: r >= TARGET_RATIO for mode, r in ratios.items()},
            },
            results_dir=args.results_dir,
        )
        print(f"result appended to {path}")


def _args() -> Any:
    p = parser(__doc__ or "")
    p.add_argument("--sessions", type=int, default=0, help="open sessions (100000, quick 5000)")
    p.add_argument("--rounds", type=int, default=0, help="rounds per mode and size (2, quick 1)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds per round (10, quick 3)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--fill-concurrency", type=int, default=64)
    p.add_argument("--accounts", type=int, default=4)
    return p.parse_args()


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
