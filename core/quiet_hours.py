"""When a reminder or a template may go out, given quiet hours in the contact's local time
(docs/reaching.md#quiet-hours). Pure functions of their arguments, UTC in and out.

The reminder's rule: its *moment* is its due time, or now when it is already overdue. A moment
inside a quiet period moves

1. to the end of that period, when that is at least ``END_MARGIN`` before the window closes;
2. else to the last minute before that period began, when that is after ``T + 1 h`` and has not
   passed yet (now is still before the period);
3. else nowhere: the reminder is skipped (``skipped_quiet_hours``).

A template's moment is the window's close, or the end of the quiet period it falls in.

Local times are wall-clock times in the zone, so a period keeps its local hours across a
daylight-saving change (22:00–07:00 is nine hours one night and eight or ten the next). A
local time that does not exist (inside a spring-forward gap) is read with the offset before
the change, as ``zoneinfo`` does with ``fold=0``.

The workflow imports this module passed through: the zone files are read once per process,
outside the sandbox, by ``zone``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from core.reach import DEFAULT_TIMEZONE, QuietHours

# The end of quiet hours must leave this much of the window for the reminder to be worth it.
END_MARGIN = timedelta(minutes=15)
# Moving a reminder earlier never brings it this close to the customer's own message.
EARLIEST_AFTER_MESSAGE = timedelta(hours=1)
# "The last minute before quiet hours began."
LAST_MINUTE = timedelta(minutes=1)


# Files of the zone database that are not zones a business would mean: the machine's own zone,
# a placeholder, and the POSIX default rules.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules", "posix/Factory", "right/Factory"})


@lru_cache(maxsize=1)
def known_timezones() -> frozenset[str]:
    """The IANA zone names this machine knows (the ``tzdata`` package when the system has none)."""
    return frozenset(
        name
        for name in available_timezones()
        if name not in _NOT_ZONES and not name.startswith(("posix/", "right/"))
    )


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The zone called ``name``; UTC when the name is unknown here (a zone removed from the
    database after it was saved must not stop the sending)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


@dataclass(frozen=True, slots=True)
class QuietPeriod:
    """One night (or day) of quiet hours, as UTC instants: ``start <= t < end`` is quiet."""

    start: datetime
    end: datetime


def quiet_period_at(moment: datetime, quiet: QuietHours, zone_name: str) -> QuietPeriod | None:
    """The quiet period ``moment`` falls in, or None when it falls in none."""
    tz = zone(zone_name)
    local = moment.astimezone(tz)
    # The period that may contain ``moment`` began today or, for one that wraps midnight,
    # yesterday; its local start date decides both ends.
    for days_back in (0, 1):
        start_day = local.date() - timedelta(days=days_back)
        start = datetime.combine(start_day, quiet.start_time, tzinfo=tz)
        end_day = start_day if quiet.end_time > quiet.start_time else start_day + timedelta(days=1)
        end = datetime.combine(end_day, quiet.end_time, tzinfo=tz)
        period = QuietPeriod(start=start.astimezone(UTC), end=end.astimezone(UTC))
        if period.start <= moment < period.end:
            return period
    return None


@dataclass(frozen=True, slots=True)
class ReminderMoment:
    """When the reminder goes out: ``at`` (which may be now or past: send now), or ``skipped``
    when quiet hours leave it no moment inside the window."""

    at: datetime | None

    @property
    def skipped(self) -> bool:
        return self.at is None


def reminder_moment(
    *,
    due: datetime,
    last_customer_message_at: datetime,
    closes: datetime,
    now: datetime,
    quiet: QuietHours | None,
    zone_name: str,
) -> ReminderMoment:
    """The rule of the module docstring; without quiet hours, the due time itself."""
    if quiet is None:
        return ReminderMoment(at=due)
    moment = max(due, now)
    period = quiet_period_at(moment, quiet, zone_name)
    if period is None:
        return ReminderMoment(at=due)
    if period.end <= closes - END_MARGIN:
        return ReminderMoment(at=period.end)
    before = period.start - LAST_MINUTE
    if before > last_customer_message_at + EARLIEST_AFTER_MESSAGE and now < period.start:
        return ReminderMoment(at=before)
    return ReminderMoment(at=None)


def template_moment(*, closes: datetime, quiet: QuietHours | None, zone_name: str) -> datetime:
    """When the template goes out: the window's close, or the end of its quiet period."""
    if quiet is None:
        return closes
    period = quiet_period_at(closes, quiet, zone_name)
    return closes if period is None else period.end
