"""Per-sender pacing: Meta allows about 80 messages/s per business number (docs/sending.md#pacing).

A burst of due reminders waits here for its turn instead of collecting 130429 errors; what
still gets throttled by Meta is retried by Temporal, so nothing is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class SendPacer:
    """A token bucket per key (the account, which has one business number), shared by one
    worker's sends."""

    def __init__(
        self,
        *,
        rate_per_second: float = 80.0,
        burst: int = 80,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = rate_per_second
        self._burst = float(burst)
        self._monotonic = monotonic
        self._sleep = sleep
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = asyncio.Lock()

    async def wait_turn(self, key: str) -> None:
        """Return when one more message may be sent for ``key``."""
        while True:
            async with self._lock:
                now = self._monotonic()
                tokens, stamp = self._buckets.get(key, (self._burst, now))
                tokens = min(self._burst, tokens + (now - stamp) * self._rate)
                # The tolerance keeps float rounding from asking for an endless series of
                # sleeps too short to move the clock.
                if tokens >= 1.0 - 1e-9:
                    self._buckets[key] = (max(0.0, tokens - 1.0), now)
                    return
                self._buckets[key] = (tokens, now)
                delay = (1.0 - tokens) / self._rate
            await self._sleep(delay)
