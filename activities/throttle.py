"""Per-number pacing: Meta allows about 80 messages/s per business number (docs/sending.md#pacing).

A burst of due reminders waits here for its turn instead of collecting 130429 errors; what
still gets throttled by Meta is retried by Temporal, so nothing is dropped. The turns are slots
in the database (``store.pacing``), so every worker process of every machine shares them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from core.pace import Pace

if TYPE_CHECKING:  # the workflow imports this module: no database layer at run time
    from store.pacing import SendPacing

# How far ahead a send may take its slot. The wait holds the send's claim, so the attempt must
# still fit its activity timeout (workflows/conversation.py SEND_ATTEMPT_TIMEOUT, 60 s) and a
# stopping worker's grace (WORKER_SHUTDOWN_GRACE_SECONDS, 30 s) with the HTTP request after it.
MAX_WAIT_SECONDS = 20.0
# Waits shorter than this are not slept: the slots are doubles of seconds since 1970, exact to
# about a microsecond, and a sleep that short is all event-loop overhead.
NO_SLEEP_BELOW = 0.001
# A turn that came this much later than its slot (an event loop busy with a burst of workflow
# tasks wakes many sleepers at once) takes a new slot rather than leave together with the
# others; once, so that a worker that stays busy still sends.
LATE_AFTER_SECONDS = 0.1


class Pacer(Protocol):
    """Turns to send, per pacing key (an account: accounts and business numbers are one to
    one)."""

    async def wait_turn(self, key: str) -> float | None:
        """Return when one more message may be sent for ``key`` (None), or, when the turn is
        too far off to wait for, at once with the seconds after which to ask again."""
        ...


class SharedPacer:
    """Slots of ``rate_per_second`` per key, ``burst`` of them at once after a pause, shared by
    every process over the same database."""

    def __init__(
        self,
        pacing: SendPacing,
        *,
        rate_per_second: float = 80.0,
        burst: int = 1,
        max_wait: float = MAX_WAIT_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        interval = 1.0 / rate_per_second
        self._pacing = pacing
        self._pace = Pace(interval=interval, tolerance=(burst - 1) * interval, max_wait=max_wait)
        self._sleep = sleep
        self._jitter = jitter
        self._monotonic = monotonic

    async def wait_turn(self, key: str) -> float | None:
        come_back, late = await self._take_slot(key)
        if come_back is None and late > LATE_AFTER_SECONDS:
            come_back, _ = await self._take_slot(key)
        return come_back

    async def _take_slot(self, key: str) -> tuple[float | None, float]:
        """Reserve a slot and sleep until it: (None, how late this is now), or (seconds to
        come back after, 0) when the slot is too far off."""
        slot = await self._pacing.reserve(key, pace=self._pace)
        # The slot's distance counts from here: the database read its clock once this
        # process's earlier writes were done (a wait for them is not lateness).
        reserved = self._monotonic()
        if not slot.reserved:
            # The queue reaches beyond what an attempt may wait. Come back when it has drained
            # to half of that, spread over the other half so that a crowd sent away together
            # does not come back together.
            half = self._pace.max_wait / 2
            return max(slot.wait_seconds - half, 0.0) + self._jitter(0.0, half), 0.0
        if slot.wait_seconds >= NO_SLEEP_BELOW:
            await self._sleep(slot.wait_seconds)
        return None, self._monotonic() - reserved - max(slot.wait_seconds, 0.0)
