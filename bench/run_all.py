"""Run every benchmark in turn (``make bench``), each in its own process and stack.

    python -m bench.run_all [--quick] [--only ingest,latency] [--scale-sessions N]

Then prints one summary table from the result each scenario just appended.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.report import parser, table

SCENARIOS = ("ingest", "latency", "drain", "arm", "reach", "scale", "webhook_post")


def _last(results_dir: Path, scenario: str) -> dict[str, Any] | None:
    path = results_dir / f"{scenario}.jsonl"
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    return json.loads(lines[-1]) if lines else None


def _summary_rows(results_dir: Path, ran: list[str]) -> list[list[object]]:
    rows: list[list[object]] = []
    for scenario in ran:
        result = _last(results_dir, scenario)
        if result is None:
            rows.append([scenario, "-", "no result", "-"])
            continue
        if scenario == "ingest":
            modes = result["modes"]
            rows.append(
                [
                    "ingest rate webhook/bare",
                    f"{modes['webhook']['rate']:.0f} / {modes['bare']['rate']:.0f} msg/s",
                    f"{result['ratio']:.2f}",
                    "≥ 0.8",
                ]
            )
        elif scenario == "latency":
            modes = result["modes"]
            rows.append(
                [
                    "latency p99 webhook/bare",
                    f"{modes['webhook']['p99_ms']:.0f} / {modes['bare']['p99_ms']:.0f} ms",
                    f"{result['p99_ratio']:.2f}",
                    "≤ 1.5",
                ]
            )
            rows.append(
                [
                    "latency webhook p50 / p99",
                    f"{modes['webhook']['p50_ms']:.0f} / {modes['webhook']['p99_ms']:.0f} ms",
                    "-",
                    "≤ 250 / ≤ 1000 ms",
                ]
            )
        elif scenario == "drain":
            rates = result["burst_rate_per_s"]
            rows.append(
                [
                    "drain rate sessions/baseline",
                    f"{rates['sessions']:.0f} / {rates['baseline']:.0f} per s",
                    f"{result['ratio']:.2f}",
                    "≥ 0.8",
                ]
            )
            rows.append(
                [
                    "steady lateness p50 / p99",
                    f"{result['steady_p50_s']:.3f} / {result['steady_p99_s']:.3f} s",
                    "-",
                    "p99 ≤ 1 s",
                ]
            )
        elif scenario == "arm":
            rates = result["rate_per_s"]
            rows.append(
                [
                    "arming rate sessions/baseline",
                    f"{rates['sessions']:.0f} / {rates['baseline']:.0f} per s",
                    f"{result['ratio']:.2f}",
                    "≥ 0.8",
                ]
            )
        elif scenario == "reach":
            rates = result["rate_per_s"]
            rows.append(
                [
                    "settings reach signals sessions/bare",
                    f"{rates['sessions']:.0f} / {rates['baseline']:.0f} per s",
                    f"{result['ratio']:.2f}",
                    "≥ 0.8, all sent",
                ]
            )
        elif scenario == "scale":
            ratios = result["ratio_size_over_empty"]
            rss = result["worker_rss_mib"]
            rows.append(
                [
                    f"ingest at {result['sessions_open']} sessions / empty",
                    f"webhook {ratios['webhook']:.2f}, bare {ratios['bare']:.2f}",
                    f"{ratios['webhook']:.2f}",
                    "≥ 0.8",
                ]
            )
            rows.append(
                [
                    "worker RSS start → at size",
                    f"{rss['start']:.0f} → {rss['after_rounds_at_size']:.0f} MiB",
                    "-",
                    "bounded by cache",
                ]
            )
        elif scenario == "webhook_post":
            for row in result["rows"]:
                rows.append(
                    [
                        f"one {result['limit']:,}-byte POST: {row['shape']}",
                        f"{row['status']} in {row['answered_s']:.2f} s",
                        "-",
                        "within a few seconds",
                    ]
                )
    return rows


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--only", default="", help="comma-separated scenarios (default: all)")
    p.add_argument("--scale-sessions", type=int, default=0, help="passed to bench.scale")
    args = p.parse_args()
    chosen = [s for s in args.only.split(",") if s] or list(SCENARIOS)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    ran: list[str] = []
    failed: list[str] = []
    for scenario in chosen:
        argv = [sys.executable, "-m", f"bench.{scenario}", "--results-dir", str(args.results_dir)]
        if args.quick:
            argv.append("--quick")
        argv += ["--worker-processes", str(args.worker_processes), "--database", args.database]
        if scenario == "scale" and args.scale_sessions:
            argv += ["--sessions", str(args.scale_sessions)]
        print(f"=== bench.{scenario} {'(quick)' if args.quick else ''}", flush=True)
        completed = subprocess.run(argv, check=False)
        if completed.returncode != 0:
            failed.append(scenario)
            print(f"bench.{scenario} failed with exit code {completed.returncode}", flush=True)
            continue
        ran.append(scenario)
    print()
    print(
        table(
            "summary",
            ["measure", "measured", "ratio", "target"],
            _summary_rows(args.results_dir, ran),
        )
    )
    if failed:
        print(f"failed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
