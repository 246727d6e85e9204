"""Send slots shared through the database (store/pacing.py), on SQLite and PostgreSQL.

Most tests read time from a clock that moves only when told to, so every wait is exact; the
last ones read the database's own clock, as production does.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.pace import Pace
from store.db import create_engine, create_sessionmaker
from store.pacing import SendPacing
from store.transactions import Transactions
from tests.store.conftest import FakeClock

T = 0.25  # seconds between slots
# The slots are doubles of seconds since 1970: exact to about a microsecond.
EXACT = 1e-5
STRICT = Pace(interval=T, tolerance=0.0, max_wait=60.0)


@pytest.fixture
def pacing(engine: AsyncEngine, clock: FakeClock) -> SendPacing:
    return SendPacing(Transactions(create_sessionmaker(engine)), clock=clock)


async def _waits(pacing: SendPacing, key: str, count: int, pace: Pace = STRICT) -> list[float]:
    """Reserve ``count`` slots one after another; their waits."""
    slots = [await pacing.reserve(key, pace=pace) for _ in range(count)]
    assert all(slot.reserved for slot in slots)
    return [slot.wait_seconds for slot in slots]


async def test_slots_are_one_interval_apart(pacing: SendPacing) -> None:
    assert await _waits(pacing, "acme", 5) == pytest.approx([0, T, 2 * T, 3 * T, 4 * T], abs=EXACT)


async def test_the_burst_goes_at_once_then_the_rate_holds(pacing: SendPacing) -> None:
    burst_of_3 = Pace(interval=T, tolerance=2 * T, max_wait=60.0)
    waits = await _waits(pacing, "acme", 6, burst_of_3)
    assert [w <= 0 for w in waits] == [True, True, True, False, False, False]
    assert waits[3:] == pytest.approx([T, 2 * T, 3 * T], abs=EXACT)


async def test_time_passing_frees_the_slots_but_saves_up_no_more_than_the_burst(
    pacing: SendPacing, clock: FakeClock
) -> None:
    await _waits(pacing, "acme", 4)  # the queue reaches 1 s ahead
    clock.advance(seconds=0.5)
    assert await _waits(pacing, "acme", 1) == pytest.approx([4 * T - 0.5], abs=EXACT)
    clock.advance(seconds=3600)  # an idle hour is not an hour of credit
    assert await _waits(pacing, "acme", 3) == pytest.approx([0, T, 2 * T], abs=EXACT)


async def test_numbers_do_not_share_slots(pacing: SendPacing) -> None:
    await _waits(pacing, "acme", 10)
    assert await _waits(pacing, "globex", 2) == pytest.approx([0, T], abs=EXACT)


async def test_a_slot_beyond_the_longest_wait_is_refused_and_not_taken(
    pacing: SendPacing, clock: FakeClock
) -> None:
    short = Pace(interval=T, tolerance=0.0, max_wait=2.5 * T)
    slots = [await pacing.reserve("acme", pace=short) for _ in range(5)]
    assert [slot.reserved for slot in slots] == [True, True, True, False, False]
    # The refusal says where the queue would have put it.
    assert slots[3].wait_seconds == pytest.approx(3 * T, abs=EXACT)
    assert slots[4].wait_seconds == pytest.approx(3 * T, abs=EXACT)
    # The refused ones took nothing: one interval later, the next slot is the 4th.
    clock.advance(seconds=T)
    fourth = await pacing.reserve("acme", pace=short)
    assert fourth.reserved and fourth.wait_seconds == pytest.approx(2 * T, abs=EXACT)


async def test_concurrent_reservations_share_a_transaction_and_get_distinct_slots(
    pacing: SendPacing,
) -> None:
    keys = ["acme"] * 12 + ["globex"] * 4
    slots = await asyncio.gather(*(pacing.reserve(key, pace=STRICT) for key in keys))
    acme = sorted(slot.wait_seconds for slot in slots[:12])
    globex = sorted(slot.wait_seconds for slot in slots[12:])
    assert acme == pytest.approx([n * T for n in range(12)], abs=EXACT)
    assert globex == pytest.approx([n * T for n in range(4)], abs=EXACT)


async def test_a_group_refuses_only_its_slots_beyond_the_longest_wait(
    pacing: SendPacing,
) -> None:
    short = Pace(interval=T, tolerance=0.0, max_wait=1.0)
    slots = await asyncio.gather(*(pacing.reserve("acme", pace=short) for _ in range(8)))
    reserved = sorted(slot.wait_seconds for slot in slots if slot.reserved)
    assert reserved == pytest.approx([0, T, 2 * T, 3 * T, 4 * T], abs=EXACT)
    assert sum(not slot.reserved for slot in slots) == 3


async def test_two_processes_take_turns_on_one_time_line(
    empty_database_url: str, engine: AsyncEngine, clock: FakeClock
) -> None:
    """Two engines stand for two worker processes (their own pools and group commits)."""
    other_engine = create_engine(empty_database_url)
    try:
        first = SendPacing(Transactions(create_sessionmaker(engine)), clock=clock)
        second = SendPacing(Transactions(create_sessionmaker(other_engine)), clock=clock)
        slots = await asyncio.gather(
            *((first if n % 2 else second).reserve("acme", pace=STRICT) for n in range(20))
        )
    finally:
        await other_engine.dispose()
    assert sorted(slot.wait_seconds for slot in slots) == pytest.approx(
        [n * T for n in range(20)], abs=EXACT
    )


async def test_the_database_clock_counts_seconds(engine: AsyncEngine) -> None:
    """Without a test clock the slots are placed on the database's clock, in seconds: one
    second apart, and the time spent between two reservations comes off the wait."""
    pacing = SendPacing(Transactions(create_sessionmaker(engine)))
    one_per_second = Pace(interval=1.0, tolerance=0.0, max_wait=60.0)
    first = await pacing.reserve("acme", pace=one_per_second)
    second = await pacing.reserve("acme", pace=one_per_second)
    started = time.monotonic()
    await asyncio.sleep(0.6)
    third = await pacing.reserve("acme", pace=one_per_second)
    slept = time.monotonic() - started
    assert first.wait_seconds == pytest.approx(0.0, abs=0.25)
    assert second.wait_seconds == pytest.approx(1.0, abs=0.25)
    assert third.wait_seconds == pytest.approx(2.0 - slept, abs=0.25)
