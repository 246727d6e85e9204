"""Printing a result table and appending the result as one JSON line to ``bench/results/``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from core.clock import utc_now

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parser(description: str) -> argparse.ArgumentParser:
    """The options every scenario has."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--quick", action="store_true", help="a short smoke run")
    result.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON lines go"
    )
    result.add_argument(
        "--worker-processes", type=int, default=1, help="worker processes on the task queues"
    )
    result.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="the service's database (postgres: a fresh database on BENCH_POSTGRES_URL)",
    )
    return result


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with right-aligned numbers."""
    cells = [[_fmt(value) for value in row] for row in rows]
    widths = [
        max(len(str(h)), *(len(row[i]) for row in cells)) if cells else len(str(h))
        for i, h in enumerate(header)
    ]
    lines = [title, "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_end": [round(x, 2) for x in load],
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def save(scenario: str, result: dict[str, Any], *, results_dir: Path) -> Path:
    """Append ``result`` (plus time and machine) as one JSON line to ``<scenario>.jsonl``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{scenario}.jsonl"
    record = {
        "scenario": scenario,
        "at": utc_now().isoformat(timespec="seconds"),
        "machine": machine(),
        **result,
    }
    with path.open("a") as out:
        out.write(json.dumps(record, default=str) + "\n")
    return path


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.started


async def alternate(
    rounds: int, run: Callable[[str, int], Awaitable[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """``rounds`` rounds of each mode, baseline first then sessions; each row printed."""
    rows = []
    for index in range(rounds):
        for mode in ("baseline", "sessions"):
            row = await run(mode, index)
            rows.append(row)
            print(f"  {row}", flush=True)
    return rows


def rate_by_mode(rows: Sequence[dict[str, Any]], *, count: str, seconds: str) -> dict[str, float]:
    """Per mode: the summed ``count`` over the summed ``seconds`` of its rounds."""
    return {
        mode: sum(r[count] for r in rows if r["mode"] == mode)
        / sum(r[seconds] for r in rows if r["mode"] == mode)
        for mode in ("sessions", "baseline")
    }


def cpu_per(cpu: dict[str, float], count: int) -> dict[str, float]:
    """CPU seconds by process as milliseconds per unit."""
    return {name: round(seconds * 1000 / count, 2) for name, seconds in cpu.items()}
