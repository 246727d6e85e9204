"""Where the CPU goes: py-spy samples of the API and the worker on the three hot paths.

    python -m bench.profile [--seconds 15] [--top 12] [--reminders 600] [--out DIR]

Three phases on one fresh stack (``bench.stack``), each sampled with ``py-spy record --pid``
(a dev dependency; attaching needs ptrace rights: root, or ``kernel.yama.ptrace_scope = 0``):

1. **webhook**: 32 signed webhooks in flight, each one message from a *new* customer, for
   ``--seconds``. The API's samples are the webhook path; the worker's are the first workflow
   task of a new session (start, first signal, settings, timer).
2. **reminder**: ``--reminders`` sessions opened beforehand fall due at one instant; the
   worker's samples over the drain are the reminder path (timer fired, send activity, claim,
   HTTP send, finish, search attributes).

For each process and phase it writes the raw collapsed stacks (``<phase>-<process>.txt``, the
input of any flame-graph tool, e.g. ``flamegraph.pl`` or speedscope) and prints two tables:
CPU by *area* (the package of the innermost frame: ours, temporalio, pydantic, sqlalchemy, …)
and the top functions by inclusive share. BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.drain import EXPIRY_HOURS, await_reminders, open_due_sessions, wait_until
from bench.load import Population, WebhookSender, closed_loop
from bench.report import RESULTS_DIR, parser, table
from bench.stack import Stack, open_stack

# Which package a frame's file belongs to, first match wins.
_AREAS: tuple[tuple[str, str], ...] = (
    (r"/temporalio/", "temporalio (SDK, incl. workflow sandbox)"),
    (r"/pydantic(_core)?/", "pydantic"),
    (r"/sqlalchemy/", "sqlalchemy"),
    (r"/(aiosqlite|asyncpg)/", "database driver"),
    (r"/(starlette|fastapi)/", "starlette / fastapi"),
    (r"/(uvicorn|h11|httptools)/", "uvicorn (HTTP server)"),
    (r"/(httpx|httpcore|anyio|h2)/", "httpx (HTTP client)"),
    (r"/(google|protobuf)/", "protobuf"),
    (r"/logging/", "logging"),
    (r"/(asyncio|selectors|uvloop)/", "asyncio event loop"),
    (r"/(json|jinja2)/", "json"),
    (
        r"/(api|workflows|activities|store|core|whatsapp|boot|worker)[/.]",
        "this service's own code",
    ),
)
# Innermost frames that are a thread waiting, not working: py-spy cannot always tell (a thread
# blocked in C looks busy), so these samples are dropped. uvloop's own C loop cannot be split
# into waiting and working, and is kept (it also does the API's socket I/O).
_WAITING = re.compile(
    r"^([\w.]*select \(selectors\.py"
    r"|_worker \(concurrent/futures/thread\.py:81\)"
    r"|_connection_worker_thread \(aiosqlite/core\.py:59\)"
    r"|[\w.]*wait \(threading\.py)"
)
# Entry points every sample passes through: they say nothing about where the time goes.
_PLUMBING = re.compile(
    r"^(<frozen runpy>|asyncio\.(runners|base_events|events)\.|threading\.|uvloop"
    r"|concurrent\.futures\.thread\.|uvicorn\.(main|server|_compat)\.|api\.(app|__main__)\."
    r"|bench\.worker\.|boot\.run_event_loop)"
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]*)(?::\d+)?\)$")


@dataclass(frozen=True)
class Profile:
    """Collapsed stacks of one process over one phase, without the samples of waiting threads."""

    stacks: Counter[tuple[str, ...]]
    rate: int

    @classmethod
    def read(cls, path: Path, *, rate: int) -> Profile:
        stacks: Counter[tuple[str, ...]] = Counter()
        for line in path.read_text().splitlines():
            frames, _, count = line.rpartition(" ")
            if frames and count.isdigit() and not _WAITING.match(frames.split(";")[-1]):
                stacks[tuple(frames.split(";"))] += int(count)
        return cls(stacks, rate)

    @property
    def samples(self) -> int:
        return sum(self.stacks.values())

    def by_area(self) -> list[tuple[str, float]]:
        """Share of samples by the package of the innermost frame (where the CPU is burnt)."""
        areas: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            areas[_area(stack[-1])] += count
        return _shares(areas, self.samples)

    def top_inclusive(self, limit: int) -> list[tuple[str, float]]:
        """Functions by the share of samples they are on the stack for (each counted once)."""
        functions: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            for name in {_short(frame) for frame in stack}:
                if not _PLUMBING.match(name):
                    functions[name] += count
        return _shares(functions, self.samples)[:limit]

    def top_self(self, limit: int) -> list[tuple[str, float]]:
        """Functions by the share of samples in which they are the innermost frame."""
        functions: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            functions[_short(stack[-1])] += count
        return _shares(functions, self.samples)[:limit]


def _area(frame: str) -> str:
    match = _FRAME.match(frame)
    path = match.group("file") if match else frame
    for pattern, name in _AREAS:
        if re.search(pattern, "/" + path):
            return name
    return "other (stdlib, interpreter)"


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``module.func``; paths under site-packages shortened."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    file = match.group("file")
    file = file.split("site-packages/")[-1].split("/lib/python3.11/")[-1]
    module = file.removesuffix(".py").replace("/", ".")
    return f"{module}.{match.group('func')}"


def _shares(counts: Counter[str], total: int) -> list[tuple[str, float]]:
    return [(name, count / total) for name, count in counts.most_common()] if total else []


async def _record(pid: int, seconds: float, out: Path, rate: int) -> asyncio.subprocess.Process:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def sampled(
    stack: Stack, *, phase: str, seconds: float, out_dir: Path, rate: int, work: Any
) -> dict[str, tuple[Profile, float]]:
    """Run ``work`` while py-spy samples the API and the worker; profiles and CPU seconds."""
    recorders = {
        name: await _record(stack.pids[name], seconds, out_dir / f"{phase}-{name}.txt", rate)
        for name in ("api", "worker")
    }
    before = stack.cpu()
    await work()
    cpu = stack.cpu().minus(before)
    result = {}
    for name, proc in recorders.items():
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"py-spy on {name} failed: {err.decode()[-500:]}")
        result[name] = (Profile.read(out_dir / f"{phase}-{name}.txt", rate=rate), cpu[name])
    return result


def report(phase: str, name: str, profile: Profile, cpu_s: float, *, top: int, unit: str) -> str:
    areas = table(
        f"{phase} · {name}: CPU by area ({profile.samples} samples, {cpu_s:.1f} s CPU, {unit})",
        ["area", "share"],
        [[area, f"{share:.0%}"] for area, share in profile.by_area()],
    )
    functions = table(
        f"{phase} · {name}: top {top} functions, inclusive",
        ["function", "share"],
        [[func[:90], f"{share:.0%}"] for func, share in profile.top_inclusive(top)],
    )
    innermost = table(
        f"{phase} · {name}: top {top} functions, self",
        ["function", "share"],
        [[func[:90], f"{share:.0%}"] for func, share in profile.top_self(top)],
    )
    return f"{areas}\n\n{functions}\n\n{innermost}\n"


async def main_async() -> None:
    args = _args()
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    rate = args.rate
    lines: list[str] = []
    async with open_stack(worker_processes=args.worker_processes, database=args.database) as stack:
        accounts = await stack.add_accounts(25, enabled=True, expiry_hours=EXPIRY_HOURS)
        population = Population(accounts)
        sender = WebhookSender(stack.http)
        # Warm-up: imports, connection pools and the sandbox's module cache.
        await closed_loop(
            sender, population.mix(new_fraction=1.0, seed=-1), concurrency=8, duration=3.0
        )
        await stack.settle()

        handled = 0

        async def webhooks() -> None:
            nonlocal handled
            result = await closed_loop(
                sender,
                population.mix(new_fraction=1.0, seed=1),
                concurrency=32,
                duration=args.seconds,
            )
            handled = result.messages
            await stack.settle()

        profiles = await sampled(
            stack,
            phase="webhook",
            seconds=args.seconds + 20,
            out_dir=out_dir,
            rate=rate,
            work=webhooks,
        )
        for name, (profile, cpu_s) in profiles.items():
            unit = f"{cpu_s * 1000 / max(handled, 1):.2f} ms per new-session message"
            lines.append(report("webhook", name, profile, cpu_s, top=args.top, unit=unit))
            print(lines[-1], flush=True)

        await stack.settle()

        # Set-up outside the samples: open the sessions, let the stack settle, and sample from
        # just before the due instant until the last reminder arrived.
        sessions = await open_due_sessions(
            stack, population, count=args.reminders, per_second=args.reminders
        )
        await wait_until(sessions.first_due - timedelta(seconds=1))
        arrived = 0

        async def drain() -> None:
            nonlocal arrived
            arrived = len(await await_reminders(stack, sessions))
            await stack.settle()

        # py-spy stops on its own after the window; the drain itself takes a fraction of it.
        window = 10.0 + args.reminders / 10
        profiles = await sampled(
            stack, phase="reminder", seconds=window, out_dir=out_dir, rate=rate, work=drain
        )
        worker, cpu_s = profiles["worker"]
        unit = f"{cpu_s * 1000 / max(arrived, 1):.1f} ms per reminder, {arrived} arrived"
        lines.append(report("reminder", "worker", worker, cpu_s, top=args.top, unit=unit))
        print(lines[-1], flush=True)
    (out_dir / "summary.txt").write_text("\n".join(lines))
    print(f"raw stacks and summary in {out_dir}")


def _args() -> Any:
    p = parser(__doc__ or "")
    p.add_argument("--seconds", type=float, default=15.0, help="length of the webhook phase")
    p.add_argument("--reminders", type=int, default=600, help="reminders due at once")
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "profile")
    return p.parse_args()


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
