"""What a send pace and a reserved send slot are: plain values, so that the workflow's imports
(activities/throttle.py) stay free of the database layer that keeps the slots
(store/pacing.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Pace:
    """How one number is paced: slots ``interval`` seconds apart, up to ``tolerance`` seconds
    early (the burst), none taken further than ``max_wait`` seconds ahead."""

    interval: float
    tolerance: float
    max_wait: float


@dataclass(frozen=True)
class Slot:
    """One reservation's answer.

    ``wait_seconds`` is how long from now the send must wait (0 or less: at once). When
    ``reserved`` is false no slot was taken, and ``wait_seconds`` is where the queue would
    have put it, beyond the pace's ``max_wait``.
    """

    wait_seconds: float
    reserved: bool
