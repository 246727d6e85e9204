"""Durations as operators type them: ``90s``, ``59m``, ``2h``, ``1h30m``, ``1d``.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_ORDER = "dhms"


def parse_duration(text: str) -> timedelta:
    """``"1h30m"`` → 90 minutes; units d, h, m, s, each at most once, largest first.

    Raises ``ValueError`` with a message fit for the command line otherwise.
    """
    value = text.strip().lower().replace(" ", "")
    if value == "0":
        return timedelta(0)
    if not value:
        raise ValueError("empty duration (expected e.g. 90s, 59m, 2h or 1h30m)")
    position = 0
    last_unit = -1
    total = timedelta(0)
    for match in _PART.finditer(value):
        unit = _ORDER.index(match.group(2))
        if match.start() != position or unit <= last_unit:
            break
        try:
            total += timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:
            raise ValueError(f"duration too large: {text!r}") from None
        position = match.end()
        last_unit = unit
    if position != len(value):
        raise ValueError(f"not a duration: {text!r} (expected e.g. 90s, 59m, 2h or 1h30m)")
    return total
