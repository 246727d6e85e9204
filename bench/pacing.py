"""What one send-slot reservation costs (store/pacing.py): CPU and wall time per reservation.

No stack: the store alone on a fresh, migrated database of each kind (PostgreSQL on
``BENCH_POSTGRES_URL``, created for the run and dropped after it). Reservations for 25 business
numbers are submitted in groups of 1, 10 and 50 at once, the way concurrent send attempts of
one worker arrive, and each group shares one transaction (``store.group_commit``). The slots
are one microsecond apart, so none is refused and nobody sleeps.

    python -m bench.pacing [--databases sqlite,postgres] [--reservations 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.analytics import database
from core.pace import Pace
from store.db import create_engine, create_sessionmaker
from store.pacing import SendPacing
from store.transactions import Transactions

NUMBERS = 25
GROUPS = (1, 10, 50)
PACE = Pace(interval=1e-6, tolerance=0.0, max_wait=1e9)


async def measure(url: str, *, group: int, reservations: int) -> tuple[float, float]:
    """CPU and wall milliseconds per reservation, in groups of ``group``."""
    engine = create_engine(url)
    try:
        pacing = SendPacing(Transactions(create_sessionmaker(engine)))
        keys = [f"number-{n % NUMBERS}" for n in range(group)]
        await asyncio.gather(*(pacing.reserve(key, pace=PACE) for key in keys))  # warm-up
        rounds = max(reservations // group, 20)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(pacing.reserve(key, pace=PACE) for key in keys))
        count = rounds * group
        return (
            1000 * (time.process_time() - cpu) / count,
            1000 * (time.perf_counter() - wall) / count,
        )
    finally:
        await engine.dispose()


async def main_async(args: argparse.Namespace) -> None:
    print("database    group  CPU ms/reservation  wall ms/reservation")
    for kind in args.databases.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-pacing-") as workdir:
            async with database(kind, Path(workdir)) as url:
                for group in GROUPS:
                    cpu, wall = await measure(url, group=group, reservations=args.reservations)
                    print(f"{kind:<10}  {group:>5}  {cpu:>18.3f}  {wall:>19.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--databases", default="sqlite,postgres", help="sqlite, postgres or both")
    p.add_argument("--reservations", type=int, default=2000, help="per group size")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
