"""The shared pacer (activities/throttle.py) over a real store: it sleeps until each slot,
and sends a turn too far off away with a time to come back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from activities.throttle import SharedPacer
from core.pace import Pace
from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.pacing import SendPacing
from store.transactions import Transactions
from tests.store.conftest import FakeClock


@pytest.fixture
async def pacing(tmp_path: Path) -> AsyncIterator[SendPacing]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pacing.db'}"
    await migrate(url)
    engine = create_engine(url)
    yield SendPacing(Transactions(create_sessionmaker(engine)), clock=FakeClock())
    await engine.dispose()


class Sleeps:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


async def test_each_turn_sleeps_until_its_slot(pacing: SendPacing) -> None:
    sleep = Sleeps()
    pacer = SharedPacer(pacing, rate_per_second=80, burst=1, sleep=sleep)
    for _ in range(160):
        assert await pacer.wait_turn("1001") is None
    # The first goes at once; the others 1/80 s apart (the test clock stands still, so each
    # sleep is its slot's distance from now): 160 sends take two seconds.
    assert sleep.slept == pytest.approx([n / 80 for n in range(1, 160)], abs=1e-5)
    # Another number is not held up.
    assert await pacer.wait_turn("2002") is None
    assert len(sleep.slept) == 159


async def test_a_burst_goes_without_sleeping(pacing: SendPacing) -> None:
    sleep = Sleeps()
    pacer = SharedPacer(pacing, rate_per_second=80, burst=10, sleep=sleep)
    for _ in range(12):
        await pacer.wait_turn("1001")
    assert sleep.slept == pytest.approx([1 / 80, 2 / 80], abs=1e-5)


async def test_a_turn_too_far_off_comes_back_later_without_a_slot(pacing: SendPacing) -> None:
    sleep = Sleeps()
    pacer = SharedPacer(
        pacing,
        rate_per_second=10,
        max_wait=1.0,
        sleep=sleep,
        jitter=lambda low, high: high,  # the longest spread
    )
    turns = [await pacer.wait_turn("1001") for _ in range(13)]
    # Slots at 0, 0.1 … 1.0 s fit within the second an attempt may wait; the 12th would be
    # at 1.1 s: it is told to come back when the queue has drained to half a second, plus a
    # spread of up to another half.
    assert turns[:11] == [None] * 11
    assert turns[11:] == pytest.approx([1.1, 1.1], abs=1e-5)
    assert len(sleep.slept) == 10


class LateSleeps(Sleeps):
    """Sleeps that wake ``lag`` seconds late, on a monotonic clock of their own."""

    def __init__(self, lag: float) -> None:
        super().__init__()
        self.lag = lag
        self.now = 0.0

    async def __call__(self, seconds: float) -> None:
        await super().__call__(seconds)
        self.now += seconds + self.lag

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize(("lag", "slots_taken"), [(0.05, 2), (0.3, 3)])
async def test_a_turn_that_woke_late_takes_one_new_slot(
    pacing: SendPacing, lag: float, slots_taken: int
) -> None:
    sleep = LateSleeps(lag)
    pacer = SharedPacer(pacing, rate_per_second=10, sleep=sleep, monotonic=sleep.monotonic)
    await pacer.wait_turn("1001")  # slot 0: at once
    await pacer.wait_turn("1001")  # slot 1: sleeps 0.1 s and wakes `lag` late
    # Woken 0.3 s late, the turn does not leave with whoever is due then: it takes a new slot
    # (and goes after that one however late it wakes); 0.05 s late is on time.
    probe = await pacing.reserve("1001", pace=Pace(interval=0.1, tolerance=0.0, max_wait=60))
    assert probe.wait_seconds == pytest.approx(slots_taken * 0.1, abs=1e-5)


async def test_a_busy_worker_still_sends_after_its_second_slot(pacing: SendPacing) -> None:
    sleep = LateSleeps(lag=5.0)
    pacer = SharedPacer(pacing, rate_per_second=10, sleep=sleep, monotonic=sleep.monotonic)
    await pacer.wait_turn("1001")
    assert await pacer.wait_turn("1001") is None
    assert len(sleep.slept) == 2  # the late slot and the new one, never a third
