"""Latency at a fixed offered load: webhook vs bare signal-with-start.

Open loop: one message every ``1/--rate`` seconds for ``--duration`` seconds, sent at its
scheduled instant whatever the earlier answers did; a message's latency counts from that
instant until its answer. Rounds alternate (bare, webhook, bare, …) on the same stack, with a
settle pause between them; half the messages open a new conversation, half write to one opened
during warm-up. Targets: webhook p99 ≤ 1.5 × bare p99; absolute p50 ≤ 250 ms and p99 ≤ 1 s
(Meta's expectation).

    python -m bench.latency [--quick] [--rate 100] [--duration 20] [--rounds 2]
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.ingest import warm_up
from bench.load import (
    BareSender,
    Population,
    RoundResult,
    Sender,
    WebhookSender,
    merge_kinds,
    open_loop,
    percentile,
)
from bench.report import parser, save, table
from bench.stack import open_stack

TARGET_P99_RATIO = 1.5
META_P50_MS = 250.0
META_P99_MS = 1000.0


def summarize(results: list[RoundResult]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for mode in ("bare", "webhook"):
        mine = [r for r in results if r.sender == mode]
        latencies = [x for r in mine for x in r.latencies]
        messages = sum(r.messages for r in mine)
        cpu: dict[str, float] = {}
        for r in mine:
            for name, seconds in r.cpu.items():
                cpu[name] = cpu.get(name, 0.0) + seconds
        summary[mode] = {
            "messages": messages,
            "errors": sum(r.errors for r in mine),
            "first_error": next((r.first_error for r in mine if r.first_error), None),
            "error_kinds": merge_kinds(mine),
            "p50_ms": percentile(latencies, 50) * 1000,
            "p90_ms": percentile(latencies, 90) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "max_ms": max(latencies, default=float("nan")) * 1000,
            "round_p99_ms": [round(percentile(r.latencies, 99) * 1000, 1) for r in mine],
            "max_send_lag_ms": max((r.max_send_lag for r in mine), default=0.0) * 1000,
            "catch_up_s": [round(r.settle_seconds, 1) for r in mine],
            "cpu_ms_per_message": {
                name: round(seconds * 1000 / messages, 3) if messages else None
                for name, seconds in cpu.items()
            },
        }
    return summary


async def main_async() -> None:
    args = _args()
    quick = args.quick
    rounds = args.rounds or (1 if quick else 2)
    duration = args.duration or (5.0 if quick else 20.0)
    async with open_stack(worker_processes=args.worker_processes, database=args.database) as stack:
        accounts = await stack.add_accounts(args.accounts, enabled=True, expiry_hours=23)
        population = Population(accounts)
        print(
            f"latency: {rounds} round(s) × {duration:.0f}s per mode at {args.rate:.0f} msg/s "
            "(open loop)",
            flush=True,
        )
        await warm_up(stack, population, conversations=100 if quick else 500)
        senders: list[Sender] = [BareSender(stack), WebhookSender(stack.http)]
        results = []
        await stack.settle()
        for index in range(rounds):
            for sender in senders:
                before = stack.cpu()
                result = await open_loop(
                    sender,
                    population.mix(new_fraction=0.5, seed=index),
                    rate=args.rate,
                    duration=duration,
                )
                result.settle_seconds = await stack.settle()
                result.cpu = stack.cpu().minus(before)
                results.append(result)
                print(
                    f"  round {index + 1} {sender.name:<7} p50 "
                    f"{percentile(result.latencies, 50) * 1000:7.1f} ms  p99 "
                    f"{percentile(result.latencies, 99) * 1000:7.1f} ms  ({result.messages} ok, "
                    f"{result.errors} errors, caught up {result.settle_seconds:.1f}s later)",
                    flush=True,
                )
        summary = summarize(results)
        ratio = summary["webhook"]["p99_ms"] / summary["bare"]["p99_ms"]
        webhook = summary["webhook"]
        absolute_ok = webhook["p50_ms"] <= META_P50_MS and webhook["p99_ms"] <= META_P99_MS
        print(
            table(
                f"latency at {args.rate:.0f} msg/s offered (open loop)",
                ["mode", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "CPU ms/msg"],
                [
                    [
                        mode,
                        s["p50_ms"],
                        s["p90_ms"],
                        s["p99_ms"],
                        s["max_ms"],
                        s["errors"],
                        " ".join(f"{k}={v}" for k, v in s["cpu_ms_per_message"].items()),
                    ]
                    for mode, s in summary.items()
                ],
            )
        )
        print(
            f"p99 ratio webhook/bare = {ratio:.2f} (target ≤ {TARGET_P99_RATIO}: "
            f"{'meets' if ratio <= TARGET_P99_RATIO else 'MISSES'}); webhook absolute "
            f"p50 ≤ {META_P50_MS:.0f} ms and p99 ≤ {META_P99_MS:.0f} ms: "
            f"{'meets' if absolute_ok else 'MISSES'}"
        )
        path = save(
            "latency",
            {
                "quick": quick,
                "params": {
                    "rate": args.rate,
                    "duration_s": duration,
                    "rounds": rounds,
                    "accounts": args.accounts,
                    "new_fraction": 0.5,
                },
                "temporal_journal_mode": stack.temporal_journal_mode,
                "modes": summary,
                "p99_ratio": ratio,
                "target": f"p99 ratio <= {TARGET_P99_RATIO}; webhook p50 <= {META_P50_MS} ms, "
                f"p99 <= {META_P99_MS} ms",
                "meets_ratio": ratio <= TARGET_P99_RATIO,
                "meets_absolute": absolute_ok,
            },
            results_dir=args.results_dir,
        )
        print(f"result appended to {path}")


def _args() -> Any:
    p = parser(__doc__ or "")
    p.add_argument("--rate", type=float, default=100.0, help="offered messages per second")
    p.add_argument("--duration", type=float, default=0.0, help="seconds per round (20, quick 5)")
    p.add_argument("--rounds", type=int, default=0, help="rounds per mode (2, quick 1)")
    p.add_argument("--accounts", type=int, default=4)
    return p.parse_args()


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
