"""Webhook ingest rate through the API vs bare signal-with-start (target ratio ≥ 0.8).

Both modes keep the same number of requests in flight (``--concurrency``, one message per
request) against the same server and worker, in alternating rounds (bare, webhook, bare, …)
with a settle pause between rounds. Each message opens a new conversation with probability
``--new-fraction``, else goes to one of the conversations opened during warm-up.

    python -m bench.ingest [--quick] [--rounds 3] [--duration 10] [--concurrency 32]
"""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

from bench.load import (
    BareSender,
    Population,
    RoundResult,
    Sender,
    WebhookSender,
    closed_loop,
    in_batches,
    merge_kinds,
    percentile,
    signal_with_start,
)
from bench.report import parser, save, table
from bench.stack import Stack, open_stack

TARGET_RATIO = 0.8


async def warm_up(stack: Stack, population: Population, *, conversations: int) -> None:
    """Open the conversations the rounds will write to again, and warm both paths up."""
    numbers = [population.new_number() for _ in range(conversations)]
    messages = [population.message(number) for number in numbers]

    async def bare(chunk: Any) -> None:
        for message in chunk:
            await signal_with_start(stack.client, stack, message)

    await in_batches(bare, messages, batch=1, concurrency=32)
    population.existing.extend(numbers)
    webhook = WebhookSender(stack.http)
    await closed_loop(
        webhook, population.mix(new_fraction=0.5, seed=-1), concurrency=8, duration=2.0
    )
    await closed_loop(
        BareSender(stack), population.mix(new_fraction=0.5, seed=-2), concurrency=8, duration=2.0
    )


async def run_rounds(
    stack: Stack,
    population: Population,
    *,
    rounds: int,
    duration: float,
    concurrency: int,
    new_fraction: float,
    seed: int = 0,
) -> list[RoundResult]:
    """Alternating closed-loop rounds, bare first; each after the stack has settled."""
    senders: list[Sender] = [BareSender(stack), WebhookSender(stack.http)]
    results = []
    await stack.settle()
    for index in range(rounds):
        for sender in senders:
            before = stack.cpu()
            result = await closed_loop(
                sender,
                population.mix(new_fraction=new_fraction, seed=seed + index),
                concurrency=concurrency,
                duration=duration,
            )
            # The worker may run behind during a round: the CPU it needs to catch up afterwards
            # belongs to this round's messages too.
            result.settle_seconds = await stack.settle()
            result.cpu = stack.cpu().minus(before)
            results.append(result)
            print(
                f"  round {index + 1} {sender.name:<7} {result.rate:7.1f} msg/s"
                f"  ({result.messages} in {result.elapsed:.1f}s, {result.errors} errors)",
                flush=True,
            )
    return results


def summarize(results: list[RoundResult]) -> dict[str, dict[str, Any]]:
    """Per mode: overall rate, per-round rates, latency, errors, CPU ms per message."""
    summary: dict[str, dict[str, Any]] = {}
    for mode in ("bare", "webhook"):
        mine = [r for r in results if r.sender == mode]
        messages = sum(r.messages for r in mine)
        elapsed = sum(r.elapsed for r in mine)
        latencies = [x for r in mine for x in r.latencies]
        cpu: dict[str, float] = {}
        for r in mine:
            for name, seconds in r.cpu.items():
                cpu[name] = cpu.get(name, 0.0) + seconds
        summary[mode] = {
            "rate": messages / elapsed if elapsed else 0.0,
            "catch_up_s": [round(r.settle_seconds, 1) for r in mine],
            "round_rates": [round(r.rate, 1) for r in mine],
            "median_round_rate": statistics.median(r.rate for r in mine),
            "messages": messages,
            "errors": sum(r.errors for r in mine),
            "first_error": next((r.first_error for r in mine if r.first_error), None),
            "error_kinds": merge_kinds(mine),
            "latency_p50_ms": percentile(latencies, 50) * 1000,
            "latency_p99_ms": percentile(latencies, 99) * 1000,
            "cpu_ms_per_message": {
                name: round(seconds * 1000 / messages, 3) if messages else None
                for name, seconds in cpu.items()
            },
        }
    return summary


def print_summary(title: str, summary: dict[str, dict[str, Any]], ratio: float) -> None:
    rows = [
        [
            mode,
            s["rate"],
            " ".join(str(x) for x in s["round_rates"]),
            s["latency_p50_ms"],
            s["latency_p99_ms"],
            s["errors"],
            " ".join(f"{k}={v}" for k, v in s["cpu_ms_per_message"].items()),
        ]
        for mode, s in summary.items()
    ]
    print(
        table(
            title,
            ["mode", "msg/s", "per round", "p50 ms", "p99 ms", "errors", "CPU ms/msg"],
            rows,
        )
    )
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"ratio webhook/bare = {ratio:.3f} (target ≥ {TARGET_RATIO}: {verdict})")


async def main_async() -> None:
    args = _args()
    quick = args.quick
    rounds = args.rounds or (1 if quick else 3)
    duration = args.duration or (3.0 if quick else 10.0)
    warm = args.warmup_conversations or (100 if quick else 500)
    async with open_stack(worker_processes=args.worker_processes, database=args.database) as stack:
        accounts = await stack.add_accounts(args.accounts, enabled=True, expiry_hours=23)
        population = Population(accounts)
        print(
            f"ingest: {rounds} round(s) × {duration:.0f}s per mode, concurrency "
            f"{args.concurrency}, new-conversation fraction {args.new_fraction}",
            flush=True,
        )
        await warm_up(stack, population, conversations=warm)
        results = await run_rounds(
            stack,
            population,
            rounds=rounds,
            duration=duration,
            concurrency=args.concurrency,
            new_fraction=args.new_fraction,
        )
        summary = summarize(results)
        ratio = summary["webhook"]["rate"] / summary["bare"]["rate"]
        print_summary("ingest (closed loop)", summary, ratio)
        path = save(
            "ingest",
            {
                "quick": quick,
                "params": {
                    "rounds": rounds,
                    "duration_s": duration,
                    "concurrency": args.concurrency,
                    "new_fraction": args.new_fraction,
                    "accounts": args.accounts,
                    "warmup_conversations": warm,
                },
                "temporal_journal_mode": stack.temporal_journal_mode,
                "modes": summary,
                "ratio": ratio,
                "target": f">= {TARGET_RATIO}",
                "meets_target": ratio >= TARGET_RATIO,
            },
            results_dir=args.results_dir,
        )
        print(f"result appended to {path}")


def _args() -> Any:
    p = parser(__doc__ or "")
    p.add_argument("--rounds", type=int, default=0, help="rounds per mode (default 3, quick 1)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds per round (10, quick 3)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--new-fraction", type=float, default=0.5)
    p.add_argument("--accounts", type=int, default=4)
    p.add_argument("--warmup-conversations", type=int, default=0)
    return p.parse_args()


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
