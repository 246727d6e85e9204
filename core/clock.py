"""The one clock of the service: aware UTC ``datetime``s, injectable wherever time matters.

Components take a clock in their constructor rather than calling ``datetime.now`` themselves,
so tests can pin "now" or hand in the time-skipping server's clock. Workflow code never uses
this: it has ``workflow.now()``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
# The send activity asks for the time asynchronously: the time-skipping test server's clock
# can only be read that way.
AsyncClock = Callable[[], Awaitable[datetime]]


def utc_now() -> datetime:
    """Now, as an aware UTC ``datetime``."""
    return datetime.now(UTC)


def awaitable(clock: Clock) -> AsyncClock:
    """``clock`` behind the asynchronous interface."""

    async def now() -> datetime:
        return clock()

    return now
