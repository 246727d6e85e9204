"""Reminder drain: many reminders due at once, and a steady flow of them.

Burst. ``--reminders`` sessions (default 1,000) are opened through the API, each with a message
whose timestamp is ``expiry_hours`` (1 h) minus a lead time old, all in the same second, so
every reminder falls due at the same instant. Measured: from that instant until the last
reminder reached the stand-in Graph API (its own receive time). The baseline
(``bench.baseline``) starts as many bare workflows that sleep until the same kind of instant and
run a no-op activity, on a worker with the same settings in the same process; measured until the
last no-op ran. Rounds alternate (sessions, baseline, …). Target: the sessions drain at ≥ 0.8 ×
the baseline's rate (rate = reminders / drain time).

Steady. ``--steady-rate`` reminders (20) fall due every second for ``--steady-seconds`` (30):
lateness = Graph API receive time − due time; target p99 ≤ 1 s. The baseline gets the same
schedule for comparison.

The sessions are spread over ``--accounts`` business numbers (25), so that the service's
per-number pacing (80 messages/s, Meta's limit, ``activities.throttle``) is not what is being
measured; ``--accounts 1`` shows the paced case.

Set-up (opening the sessions, starting the baseline workflows) is not measured; the due instant
is chosen far enough ahead for it to finish and for the stack to settle, and a round whose
set-up overran its lead is reported as invalid.

    python -m bench.drain [--quick] [--reminders 1000] [--rounds 2] [--steady-seconds 30]
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.baseline import BASELINE_TASK_QUEUE, BaselineInput, BaselineResult, TimerBaselineWorkflow
from bench.load import Message, Population, WebhookSender, in_batches, percentile
from bench.report import parser, save, table
from bench.stack import Stack, open_stack

TARGET_RATIO = 0.8
TARGET_STEADY_P99_S = 1.0
EXPIRY_HOURS = 1
# How long past the last due instant a round waits before it gives up on missing reminders.
GIVE_UP_AFTER = 180.0


@dataclass
class DrainResult:
    mode: str
    kind: str  # "burst" or "steady"
    expected: int
    lateness: list[float] = field(repr=False)
    setup_seconds: float
    margin_seconds: float  # time left before the first due instant once set-up had settled
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.margin_seconds > 0.5 and len(self.lateness) == self.expected

    @property
    def drain_seconds(self) -> float:
        return max(self.lateness, default=float("nan"))

    @property
    def rate(self) -> float:
        return self.expected / self.drain_seconds if self.lateness else 0.0

    def row(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "kind": self.kind,
            "expected": self.expected,
            "arrived": len(self.lateness),
            "valid": self.valid,
            "drain_s": round(self.drain_seconds, 3),
            "rate_per_s": round(self.rate, 1),
            "lateness_p50_s": round(percentile(self.lateness, 50), 3),
            "lateness_p99_s": round(percentile(self.lateness, 99), 3),
            "lateness_max_s": round(self.drain_seconds, 3),
            "setup_s": round(self.setup_seconds, 1),
            "margin_s": round(self.margin_seconds, 1),
            "cpu_s": self.cpu,
        }


def _lead(count: int) -> float:
    """Seconds from now to the first due instant: set-up plus settling, generously."""
    return 20.0 + count * 0.04


def _schedule(count: int, *, per_second: int, lead: float) -> list[datetime]:
    """Due instants (whole seconds, as Meta timestamps are): ``per_second`` share each one."""
    first = math.ceil(time.time() + lead)
    return [datetime.fromtimestamp(first + index // per_second, UTC) for index in range(count)]


async def wait_until(moment: datetime) -> float:
    """Sleep until ``moment``; returns how long that was (negative: it had passed)."""
    left = moment.timestamp() - time.time()
    if left > 0:
        await asyncio.sleep(left)
    return left


@dataclass(frozen=True)
class DueSessions:
    """Sessions opened through the API whose reminders fall due on a schedule."""

    due_of: dict[str, datetime]  # customer number → due instant
    first_due: datetime
    last_due: datetime
    setup_seconds: float


async def open_due_sessions(
    stack: Stack, population: Population, *, count: int, per_second: int
) -> DueSessions:
    """Open ``count`` sessions (signed webhooks, 25 messages per POST) whose reminders fall due
    ``per_second`` at a time, far enough ahead for the set-up to finish; wait until it has."""
    dues = _schedule(count, per_second=per_second, lead=_lead(count))
    expiry = timedelta(hours=EXPIRY_HOURS)
    messages: list[Message] = [
        population.message(population.new_number(), sent_at=due - expiry) for due in dues
    ]
    stack.sandbox.messages.clear()
    started = time.perf_counter()
    await in_batches(WebhookSender(stack.http).send, messages, batch=25, concurrency=4)
    await stack.settle()
    return DueSessions(
        due_of={m.wa_id: due for m, due in zip(messages, dues, strict=True)},
        first_due=dues[0],
        last_due=dues[-1],
        setup_seconds=time.perf_counter() - started,
    )


async def await_reminders(stack: Stack, sessions: DueSessions) -> list[float]:
    """Wait for the reminders to reach the stand-in Graph API; each one's lateness (s)."""
    deadline = sessions.last_due.timestamp() + GIVE_UP_AFTER
    arrived: dict[str, float] = {}
    while len(arrived) < len(sessions.due_of) and time.time() < deadline:
        await asyncio.sleep(0.2)
        for sent in stack.sandbox.messages:
            if sent.wa_id is None:
                continue  # the bench's customers all have numbers
            due = sessions.due_of.get(sent.wa_id)
            if due is not None and sent.wa_id not in arrived:
                arrived[sent.wa_id] = (sent.received_at - due).total_seconds()
    return list(arrived.values())


async def sessions_round(
    stack: Stack, population: Population, *, count: int, per_second: int, kind: str
) -> DrainResult:
    """Open ``count`` sessions whose reminders fall due on schedule; collect their lateness."""
    sessions = await open_due_sessions(stack, population, count=count, per_second=per_second)
    before = stack.cpu()
    margin = await wait_until(sessions.first_due)
    lateness = await await_reminders(stack, sessions)
    await stack.settle()
    return DrainResult(
        mode="sessions",
        kind=kind,
        expected=count,
        lateness=lateness,
        setup_seconds=sessions.setup_seconds,
        margin_seconds=margin,
        cpu=stack.cpu().minus(before),
    )


async def baseline_round(
    stack: Stack, *, count: int, per_second: int, kind: str, tag: str
) -> DrainResult:
    """The same schedule for bare timer workflows with a no-op activity."""
    dues = _schedule(count, per_second=per_second, lead=_lead(count))
    client = stack.client
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(32)

    async def start(index: int, due: datetime) -> None:
        async with semaphore:
            await client.start_workflow(
                TimerBaselineWorkflow.run,
                BaselineInput(due_at=due),
                id=f"baseline-{tag}-{index}",
                task_queue=BASELINE_TASK_QUEUE,
            )

    await asyncio.gather(*(start(i, due) for i, due in enumerate(dues)))
    await stack.settle()
    setup = time.perf_counter() - started
    before = stack.cpu()
    margin = await wait_until(dues[0])

    # Poll visibility (cheap) until all have completed; only then fetch the results, so the
    # fetching does not load the server during the drain.
    query = f'WorkflowId STARTS_WITH "baseline-{tag}-" AND ExecutionStatus = "Completed"'
    deadline = dues[-1].timestamp() + GIVE_UP_AFTER
    while time.time() < deadline:
        await asyncio.sleep(0.5)
        if (await client.count_workflows(query)).count >= count:
            break
    await stack.settle()
    cpu = stack.cpu().minus(before)

    lateness: list[float] = []
    failures: list[str] = []

    async def fetch(index: int, due: datetime) -> None:
        async with semaphore:
            handle = client.get_workflow_handle(
                f"baseline-{tag}-{index}", result_type=BaselineResult
            )
            try:
                result = await asyncio.wait_for(handle.result(), 10)
            except Exception as err:  # reported as a missing arrival
                failures.append(f"{type(err).__name__}: {err}")
                return
            lateness.append(result.ran_at_unix - due.timestamp())

    await asyncio.gather(*(fetch(i, due) for i, due in enumerate(dues)))
    if failures:
        print(f"  {len(failures)} baseline result(s) missing, first: {failures[0]}", flush=True)
    return DrainResult(
        mode="baseline",
        kind=kind,
        expected=count,
        lateness=lateness,
        setup_seconds=setup,
        margin_seconds=margin,
        cpu=cpu,
    )


def _print(results: list[DrainResult]) -> None:
    print(
        table(
            "reminder drain",
            [
                "kind",
                "mode",
                "arrived",
                "drain s",
                "rate/s",
                "late p50 s",
                "late p99 s",
                "valid",
                "CPU s (worker/temporal/api)",
            ],
            [
                [
                    r.kind,
                    r.mode,
                    f"{len(r.lateness)}/{r.expected}",
                    r.drain_seconds,
                    r.rate,
                    percentile(r.lateness, 50),
                    percentile(r.lateness, 99),
                    "yes" if r.valid else "NO",
                    "/".join(str(r.cpu.get(k, "-")) for k in ("worker", "temporal", "api")),
                ]
                for r in results
            ],
        )
    )


async def main_async() -> None:
    args = _args()
    quick = args.quick
    count = args.reminders or (200 if quick else 1000)
    rounds = args.rounds or (1 if quick else 2)
    steady_seconds = args.steady_seconds or (10 if quick else 30)
    async with open_stack(worker_processes=args.worker_processes, database=args.database) as stack:
        accounts = await stack.add_accounts(args.accounts, enabled=True, expiry_hours=EXPIRY_HOURS)
        population = Population(accounts)
        print(
            f"drain: burst of {count} × {rounds} round(s) per mode, then "
            f"{args.steady_rate}/s for {steady_seconds}s; {args.accounts} business numbers",
            flush=True,
        )
        results: list[DrainResult] = []
        for index in range(rounds):
            for mode in ("sessions", "baseline"):
                if mode == "sessions":
                    result = await sessions_round(
                        stack, population, count=count, per_second=count, kind="burst"
                    )
                else:
                    result = await baseline_round(
                        stack, count=count, per_second=count, kind="burst", tag=f"b{index}"
                    )
                results.append(result)
                print(f"  {result.row()}", flush=True)
        steady_count = args.steady_rate * steady_seconds
        for mode in ("sessions", "baseline"):
            if mode == "sessions":
                result = await sessions_round(
                    stack,
                    population,
                    count=steady_count,
                    per_second=args.steady_rate,
                    kind="steady",
                )
            else:
                result = await baseline_round(
                    stack,
                    count=steady_count,
                    per_second=args.steady_rate,
                    kind="steady",
                    tag="steady",
                )
            results.append(result)
            print(f"  {result.row()}", flush=True)

        _print(results)
        burst = {
            mode: [r for r in results if r.kind == "burst" and r.mode == mode]
            for mode in ("sessions", "baseline")
        }
        # Rate over all rounds of a mode: reminders / summed drain time.
        rates = {
            mode: sum(r.expected for r in rs) / sum(r.drain_seconds for r in rs)
            for mode, rs in burst.items()
        }
        ratio = rates["sessions"] / rates["baseline"]
        steady = next(r for r in results if r.kind == "steady" and r.mode == "sessions")
        steady_p99 = percentile(steady.lateness, 99)
        all_valid = all(r.valid for r in results)
        print(
            f"burst drain rate sessions/baseline = {ratio:.3f} (target ≥ {TARGET_RATIO}: "
            f"{'meets' if ratio >= TARGET_RATIO else 'MISSES'}); steady lateness p99 = "
            f"{steady_p99:.3f}s (target ≤ {TARGET_STEADY_P99_S}s: "
            f"{'meets' if steady_p99 <= TARGET_STEADY_P99_S else 'MISSES'})"
            + ("" if all_valid else "  [some rounds INVALID: see 'valid']")
        )
        path = save(
            "drain",
            {
                "quick": quick,
                "params": {
                    "reminders": count,
                    "rounds": rounds,
                    "accounts": args.accounts,
                    "expiry_hours": EXPIRY_HOURS,
                    "steady_rate": args.steady_rate,
                    "steady_seconds": steady_seconds,
                },
                "temporal_journal_mode": stack.temporal_journal_mode,
                "rounds": [r.row() for r in results],
                "burst_rate_per_s": rates,
                "ratio": ratio,
                "steady_p50_s": percentile(steady.lateness, 50),
                "steady_p99_s": steady_p99,
                "target": f"ratio >= {TARGET_RATIO}; steady p99 <= {TARGET_STEADY_P99_S}s",
                "meets_ratio": ratio >= TARGET_RATIO,
                "meets_steady": steady_p99 <= TARGET_STEADY_P99_S,
                "all_rounds_valid": all_valid,
            },
            results_dir=args.results_dir,
        )
        print(f"result appended to {path}")


def _args() -> Any:
    p = parser(__doc__ or "")
    p.add_argument("--reminders", type=int, default=0, help="burst size (1000, quick 200)")
    p.add_argument("--rounds", type=int, default=0, help="burst rounds per mode (2, quick 1)")
    p.add_argument("--accounts", type=int, default=25, help="business numbers")
    p.add_argument("--steady-rate", type=int, default=20, help="reminders due per second")
    p.add_argument(
        "--steady-seconds", type=int, default=0, help="length of the steady flow (30, quick 10)"
    )
    return p.parse_args()


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
