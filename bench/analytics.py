"""What the analytics endpoint costs on a year of one account's records (docs/analytics.md).

Per database (SQLite in a temporary file, and PostgreSQL in a database of its own on
``BENCH_POSTGRES_URL``): ``--rows`` audit records (100,000) of one account, spread evenly over
the last 366 days, with a realistic mix (nine reminders to one template; most sent, some
skipped or failed; delivered, read, failed or no status; a third of the delivered replied to,
after seconds to hours; recipients in six countries, some known by BSUID only), plus half as
many records of another account on the same days, bulk-inserted; then ``ANALYZE`` (and on
PostgreSQL ``VACUUM``, as autovacuum would have done, so that index-only scans can skip the
table). The account has message prices, so every query of the endpoint runs.

Measured, through the real FastAPI app under ``httpx.ASGITransport`` (the whole request: guard,
account lookup, store, Decimal cost, JSON), ``--repetitions`` times each after two unmeasured
ones, for a 30-day and a 366-day range:

- ``endpoint``: ``GET …/analytics`` as shipped;
- ``no index``: the same after ``DROP INDEX ix_reminders_account_kind_decided`` (what the index
  buys; the index is created again afterwards);
- ``count(*)``: a bare ``SELECT count(*)`` of the account's records in the range through the
  same engine, the least any answer over that range can cost (what the endpoint costs beyond
  touching the range once).

Also: the plan of each statement the endpoint runs (EXPLAIN), and the cost of the index on the
status-webhook path: ``--updates`` single-record ``delivery_status`` updates, 500 per
transaction as ``Reminders.apply_statuses`` writes them, with and without the index.

    python -m bench.analytics [--results-dir DIR] [--rows 100000] [--repetitions 15]
                              [--databases sqlite,postgres] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time as clock
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import Index, event, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.client import Client

from api.app import create_app
from bench.report import RESULTS_DIR, save, table
from boot import Resources
from core.config import Settings
from core.prices import MessagePrices
from core.vocabulary import DEFAULT_MESSAGE, DeliveryStatus, ReminderOutcome, SendKind
from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.models import Base, ReminderRow
from store.repository import Store

API_TOKEN = "bench-analytics-token"
ACCOUNT, NOISE = "bench-analytics", "bench-noise"
INDEX = "ix_reminders_account_kind_decided"
RANGES = (30, 366)
INSERT_CHUNK = 5_000
STATUS_CHUNK = 500  # store.reminders.STATUS_CHUNK
PRICES = MessagePrices.model_validate(
    {
        "default": {"amount": "0.0080", "currency": "USD"},
        "by_country_code": {
            "1": {"amount": "0.0034", "currency": "USD"},
            "44": {"amount": "0.0220", "currency": "USD"},
            "49": {"amount": "0.0768", "currency": "USD"},
            "55": {"amount": "0.0068", "currency": "USD"},
            "91": {"amount": "0.0014", "currency": "USD"},
        },
        "template": {"amount": "0.0250", "currency": "USD"},
    }
)
# (number prefix, weight); None: a recipient known by BSUID only. 234 (Nigeria) has no price.
COUNTRIES = [("1555", 30), ("447", 20), ("919", 25), ("4915", 10), ("5511", 8), ("234", 2)]
BSUID_SHARE = 0.05
OUTCOMES = [
    (ReminderOutcome.SENT, 75),
    (ReminderOutcome.SKIPPED_CUSTOMER_REPLIED, 7),
    (ReminderOutcome.SKIPPED_QUIET_HOURS, 3),
    (ReminderOutcome.SKIPPED_OPTED_OUT, 2),
    (ReminderOutcome.SKIPPED_WINDOW_CLOSED, 2),
    (ReminderOutcome.FAILED, 5),
    (ReminderOutcome.FAILED_WINDOW_CLOSED, 3),
    (ReminderOutcome.UNKNOWN, 1),
    (ReminderOutcome.SKIPPED_DISABLED, 2),
]
STATUSES = [
    (DeliveryStatus.READ, 45),
    (DeliveryStatus.DELIVERED, 35),
    (DeliveryStatus.SENT, 12),
    (DeliveryStatus.FAILED, 3),
    (None, 5),
]
REPLIED_SHARE = 0.33


def _pick(rng: random.Random, weighted: list[tuple[Any, int]]) -> Any:
    return rng.choices([value for value, _ in weighted], [weight for _, weight in weighted])[0]


def records(account_id: str, count: int, *, now: datetime, seed: int) -> list[dict[str, Any]]:
    """``count`` audit records of ``account_id``, decided over the 366 days up to ``now``."""
    rng = random.Random(seed)
    span = timedelta(days=366).total_seconds()
    rows = []
    for n in range(count):
        decided = now - timedelta(seconds=rng.uniform(0, span))
        kind = SendKind.TEMPLATE if rng.random() < 0.1 else SendKind.REMINDER
        outcome = _pick(rng, OUTCOMES)
        status = _pick(rng, STATUSES) if outcome is ReminderOutcome.SENT else None
        replied = (
            kind is SendKind.REMINDER
            and status in (DeliveryStatus.DELIVERED, DeliveryStatus.READ)
            and rng.random() < REPLIED_SHARE
        )
        seconds = int(rng.expovariate(1 / 2400)) % 80_000 if replied else None
        bsuid = rng.random() < BSUID_SHARE
        prefix = _pick(rng, [(p, w) for p, w in COUNTRIES])
        rows.append(
            {
                "reminder_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "account_id": account_id,
                "conversation_key": f"{seed}-{n}",
                "wa_id": None if bsuid else prefix + str(rng.randrange(10**7, 10**8)),
                "user_id": f"US.{rng.getrandbits(60)}" if bsuid else None,
                "last_customer_message_at": decided - timedelta(hours=23),
                "outcome": outcome,
                "idempotency_key": None,
                "delivery_status": status,
                "attempts": 1,
                "decided_at": decided,
                "created_at": decided,
                "kind": kind,
                "replied_at": decided + timedelta(seconds=seconds) if seconds is not None else None,
                "reply_seconds": seconds,
            }
        )
    return rows


@asynccontextmanager
async def database(kind: str, workdir: Path) -> AsyncIterator[str]:
    """A fresh, migrated database of ``kind``; PostgreSQL's is dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'analytics.db'}"
        await migrate(url)
        yield url
        return
    admin_url = make_url(
        os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    )
    name = f"bench_analytics_{os.getpid()}_{int(clock.time())}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        await migrate(url)
        yield url
    finally:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


async def seed(store: Store, engine: AsyncEngine, *, rows: int, now: datetime) -> float:
    """The two accounts, the prices, the records; returns the seconds the inserts took."""
    for account_id, number in ((ACCOUNT, "15550009001"), (NOISE, "15550009002")):
        await store.accounts.upsert(
            account_id=account_id,
            company_name="Bench Inc.",
            phone_number_id=number,
            access_token="EAAG-bench",
        )
    await store.settings.save(
        account_id=ACCOUNT,
        enabled=True,
        expiry_hours=23,
        message=DEFAULT_MESSAGE,
        changed_by="bench",
        message_prices=PRICES,
    )
    started = clock.perf_counter()
    for account_id, count, seed_value in ((ACCOUNT, rows, 1), (NOISE, rows // 2, 2)):
        batch = records(account_id, count, now=now, seed=seed_value)
        for start in range(0, len(batch), INSERT_CHUNK):
            async with engine.begin() as connection:
                await connection.execute(insert(ReminderRow), batch[start : start + INSERT_CHUNK])
    inserted = clock.perf_counter() - started
    await analyze(engine)
    return inserted


async def analyze(engine: AsyncEngine) -> None:
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql("VACUUM ANALYZE reminders")
    else:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")


async def timings(
    call: Callable[[], Awaitable[Any]], repetitions: int
) -> dict[str, float | list[float]]:
    """Median and p95 of ``repetitions`` calls, in milliseconds, after two unmeasured ones."""
    for _ in range(2):
        await call()
    samples = []
    for _ in range(repetitions):
        started = clock.perf_counter()
        await call()
        samples.append((clock.perf_counter() - started) * 1000)
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(samples), "p95_ms": p95, "samples_ms": samples}


async def plans(
    engine: AsyncEngine, client: httpx.AsyncClient, params: dict[str, str]
) -> list[list[str]]:
    """EXPLAIN of every statement one analytics request runs on ``reminders``."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "reminders" in statement:
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        response = await client.get(f"/v1/accounts/{ACCOUNT}/analytics", params=params)
        response.raise_for_status()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    found = []
    async with engine.connect() as connection:
        for statement, parameters in seen:
            result = await connection.exec_driver_sql(explain + statement, parameters)
            found.append([" ".join(str(cell) for cell in row) for row in result])
    return found


async def status_updates(engine: AsyncEngine, count: int, *, rng: random.Random) -> float:
    """Seconds for ``count`` single-record delivery_status updates, STATUS_CHUNK per
    transaction, on records of the account picked at random."""
    async with engine.connect() as connection:
        ids = list(
            await connection.scalars(
                select(ReminderRow.reminder_id)
                .where(ReminderRow.account_id == ACCOUNT)
                .order_by(func.random())
                .limit(count)
            )
        )
    statuses = [DeliveryStatus.DELIVERED, DeliveryStatus.READ]
    started = clock.perf_counter()
    for start in range(0, len(ids), STATUS_CHUNK):
        async with engine.begin() as connection:
            for reminder_id in ids[start : start + STATUS_CHUNK]:
                await connection.execute(
                    update(ReminderRow)
                    .where(ReminderRow.reminder_id == reminder_id)
                    .values(delivery_status=rng.choice(statuses))
                )
    return clock.perf_counter() - started


def analytics_index() -> Index:
    [index] = [i for i in Base.metadata.tables["reminders"].indexes if i.name == INDEX]
    return index


async def run_database(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    now = datetime.now(UTC)
    today = now.date()
    with tempfile.TemporaryDirectory(prefix="bench-analytics-") as workdir:
        async with database(kind, Path(workdir)) as url:
            engine = create_engine(url)
            store = Store(create_sessionmaker(engine))
            temporal = await Client.connect("127.0.0.1:1", lazy=True)  # never called
            settings = Settings(
                _env_file=None,
                environment="test",
                database_url=url,
                api_token=SecretStr(API_TOKEN),
            )
            try:
                inserted = await seed(store, engine, rows=args.rows, now=now)
                print(f"{kind}: {args.rows + args.rows // 2} records in {inserted:.1f} s")
                async with httpx.AsyncClient() as http:
                    app = create_app(
                        settings, resources=Resources(store=store, temporal=temporal, http=http)
                    )
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(
                        transport=transport,
                        base_url="http://bench",
                        headers={"Authorization": f"Bearer {API_TOKEN}"},
                    ) as client:
                        return await measure(kind, engine, client, today, args)
            finally:
                await engine.dispose()


async def measure(
    kind: str,
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    today: date,
    args: argparse.Namespace,
) -> dict[str, Any]:
    result: dict[str, Any] = {"database": kind, "ranges": {}}
    answers: dict[int, dict[str, Any]] = {}

    def params(days: int) -> dict[str, str]:
        return {"from": (today - timedelta(days=days - 1)).isoformat(), "to": today.isoformat()}

    async def endpoint(days: int) -> None:
        response = await client.get(f"/v1/accounts/{ACCOUNT}/analytics", params=params(days))
        response.raise_for_status()
        answers[days] = response.json()

    async def bare_count(days: int) -> None:
        first = datetime.combine(today - timedelta(days=days - 1), time.min, UTC)
        last = datetime.combine(today, time.max, UTC)
        async with engine.connect() as connection:
            await connection.scalar(
                select(func.count()).where(
                    ReminderRow.account_id == ACCOUNT,
                    ReminderRow.decided_at >= first,
                    ReminderRow.decided_at <= last,
                )
            )

    for days in RANGES:
        result["ranges"][days] = {
            "endpoint": await timings(partial(endpoint, days), args.repetitions),
            "count": await timings(partial(bare_count, days), args.repetitions),
        }
    result["plans"] = {days: await plans(engine, client, params(days)) for days in RANGES}
    result["answer_366"] = {k: v for k, v in answers[366].items() if k != "days"}
    rng = random.Random(3)
    result["status_updates"] = {"count": args.updates}
    result["status_updates"]["with_index_s"] = await status_updates(engine, args.updates, rng=rng)
    async with engine.begin() as connection:
        await connection.execute(text(f"DROP INDEX {INDEX}"))
    await analyze(engine)
    try:
        for days in RANGES:
            result["ranges"][days]["no_index"] = await timings(
                partial(endpoint, days), args.repetitions
            )
        result["plans_no_index"] = {366: await plans(engine, client, params(366))}
        result["status_updates"]["without_index_s"] = await status_updates(
            engine, args.updates, rng=rng
        )
    finally:
        async with engine.begin() as connection:
            await connection.run_sync(analytics_index().create)
    return result


def report(results: list[dict[str, Any]]) -> None:
    rows = []
    for found in results:
        for days, figures in found["ranges"].items():
            endpoint, count, bare = figures["endpoint"], figures["count"], figures["no_index"]
            rows.append(
                [
                    found["database"],
                    f"{days} days",
                    endpoint["median_ms"],
                    endpoint["p95_ms"],
                    bare["median_ms"],
                    bare["p95_ms"],
                    count["median_ms"],
                    bare["median_ms"] / endpoint["median_ms"],
                    endpoint["median_ms"] / count["median_ms"],
                ]
            )
    print(
        table(
            "GET …/analytics (ms)",
            [
                "database",
                "range",
                "median",
                "p95",
                "no index median",
                "no index p95",
                "count(*) median",
                "no index / index",
                "endpoint / count(*)",
            ],
            rows,
        )
    )
    for found in results:
        updates = found["status_updates"]
        print(
            f"{found['database']}: {updates['count']} status updates "
            f"{updates['with_index_s']:.2f} s with the index, "
            f"{updates['without_index_s']:.2f} s without"
        )
        for days, statements in found["plans"].items():
            print(f"{found['database']} plans, {days} days:")
            for plan in statements:
                print("   " + "\n   ".join(plan))
                print()


async def main_async() -> None:
    args = _args()
    if args.quick:
        args.rows, args.repetitions, args.updates = 20_000, 5, 500
    results = []
    for kind in args.databases.split(","):
        results.append(await run_database(kind, args))
    report(results)
    path = save(
        "analytics",
        {
            "quick": args.quick,
            "params": {
                "rows": args.rows,
                "noise_rows": args.rows // 2,
                "repetitions": args.repetitions,
                "updates": args.updates,
            },
            "databases": results,
        },
        results_dir=args.results_dir,
    )
    print(f"result appended to {path}")


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="20,000 records, 5 repetitions")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    p.add_argument("--rows", type=int, default=100_000, help="the account's records")
    p.add_argument("--repetitions", type=int, default=15, help="measured requests per figure")
    p.add_argument("--updates", type=int, default=2_000, help="status updates timed")
    p.add_argument(
        "--databases",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (on BENCH_POSTGRES_URL)",
    )
    return p.parse_args()


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
