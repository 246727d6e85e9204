"""The quiet-hours moment rule (core.quiet_hours) and a contact's zone (core.contact_zone), at
fixed instants: each branch, its boundaries, midnight wrap and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.contact_zone import contact_zone
from core.quiet_hours import quiet_period_at, reminder_moment, template_moment, zone
from core.reach import QuietHours

NIGHT = QuietHours(start="22:00", end="07:00")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def moment(
    *, last: str, hours: int, now: str | None = None, quiet: QuietHours | None = NIGHT, tz: str
) -> datetime | None:
    t = utc(last)
    return reminder_moment(
        due=t + hours * HOUR,
        last_customer_message_at=t,
        closes=t + 24 * HOUR,
        now=utc(now) if now else t,
        quiet=quiet,
        zone_name=tz,
    ).at


def test_without_quiet_hours_the_due_time_stands() -> None:
    assert moment(last="2026-12-01T20:00", hours=3, quiet=None, tz="UTC") == utc("2026-12-01T23:00")


def test_a_due_time_outside_quiet_hours_stands() -> None:
    assert moment(last="2026-12-01T10:00", hours=3, tz="UTC") == utc("2026-12-01T13:00")


def test_inside_quiet_hours_it_waits_for_their_end() -> None:
    # Due 23:00 UTC, inside 22:00–07:00: out at 07:00, well before the window closes at 20:00.
    assert moment(last="2026-12-01T20:00", hours=3, tz="UTC") == utc("2026-12-02T07:00")


def test_quiet_hours_are_read_in_the_contacts_zone() -> None:
    # 23:00 UTC is 18:00 in New York: not quiet there.
    assert moment(last="2026-12-01T20:00", hours=3, tz="America/New_York") == utc(
        "2026-12-01T23:00"
    )
    # Due 04:00 UTC = 23:00 New York: out at 07:00 New York = 12:00 UTC.
    assert moment(last="2026-12-02T01:00", hours=3, tz="America/New_York") == utc(
        "2026-12-02T12:00"
    )


def test_the_end_must_leave_fifteen_minutes_of_the_window() -> None:
    quiet = QuietHours(start="10:00", end="09:45")  # nearly all day
    # T 09:30: window closes 09:30 next day; the end (09:45) is past it: earlier branch, the
    # minute before 10:00 today is after T + 1 h? No (10:00 - 1 min = 09:59 < 10:30): skipped.
    assert moment(last="2026-12-01T09:30", hours=2, quiet=quiet, tz="UTC") is None
    # End exactly 15 min before the close is still allowed.
    quiet = QuietHours(start="12:00", end="09:15")
    assert moment(last="2026-12-01T09:30", hours=3, quiet=quiet, tz="UTC") == utc(
        "2026-12-02T09:15"
    )
    # One minute later it is not: the minute before 12:00 (11:59 > 10:30) is chosen.
    quiet = QuietHours(start="12:00", end="09:16")
    assert moment(last="2026-12-01T09:30", hours=3, quiet=quiet, tz="UTC") == utc(
        "2026-12-01T11:59"
    )


def test_earlier_only_when_after_one_hour_of_silence() -> None:
    quiet = QuietHours(start="10:31", end="09:59")
    # Minute before: 10:30 = T + 1 h exactly, not after it: skipped.
    assert moment(last="2026-12-01T09:30", hours=2, quiet=quiet, tz="UTC") is None
    quiet = QuietHours(start="10:32", end="09:59")
    assert moment(last="2026-12-01T09:30", hours=2, quiet=quiet, tz="UTC") == utc(
        "2026-12-01T10:31"
    )


def test_earlier_never_in_the_past() -> None:
    quiet = QuietHours(start="12:00", end="09:59")
    # Settings changed while the reminder was overdue, now 12:30, inside quiet hours: the minute
    # before 12:00 has passed, the end is too late: skipped.
    assert (
        moment(last="2026-12-01T09:30", hours=2, now="2026-12-01T12:30", quiet=quiet, tz="UTC")
        is None
    )
    # At 11:59:30 the last minute is still running: send now (its moment is not after now).
    at = moment(last="2026-12-01T09:30", hours=3, now="2026-12-01T11:59:30", quiet=quiet, tz="UTC")
    assert at == utc("2026-12-01T11:59")


def test_an_overdue_reminder_uses_now_as_its_moment() -> None:
    # Due 13:00, reminders enabled at 23:30 (quiet): out at 07:00, before the 20:00 close.
    assert moment(last="2026-12-01T20:00", hours=1, now="2026-12-01T23:30", tz="UTC") == utc(
        "2026-12-02T07:00"
    )


def test_a_period_that_wraps_midnight_contains_both_sides() -> None:
    assert quiet_period_at(utc("2026-12-01T23:59"), NIGHT, "UTC") is not None
    assert quiet_period_at(utc("2026-12-02T06:59"), NIGHT, "UTC") is not None
    assert quiet_period_at(utc("2026-12-02T07:00"), NIGHT, "UTC") is None
    assert quiet_period_at(utc("2026-12-01T21:59"), NIGHT, "UTC") is None
    day = QuietHours(start="12:00", end="14:00")
    period = quiet_period_at(utc("2026-12-01T13:00"), day, "UTC")
    assert period is not None
    assert (period.start, period.end) == (utc("2026-12-01T12:00"), utc("2026-12-01T14:00"))


def test_spring_forward_keeps_the_local_end() -> None:
    # New York moves from EST (UTC-5) to EDT (UTC-4) at 02:00 on 8 March 2026. The night
    # 22:00 EST (03:00 UTC) to 07:00 EDT (11:00 UTC) is eight hours, not nine.
    period = quiet_period_at(utc("2026-03-08T05:00"), NIGHT, "America/New_York")
    assert period is not None
    assert period.start == utc("2026-03-08T03:00")
    assert period.end == utc("2026-03-08T11:00")


def test_fall_back_keeps_the_local_end() -> None:
    # New York moves back to EST at 02:00 on 1 November 2026: 22:00 EDT (02:00 UTC) to 07:00
    # EST (12:00 UTC), ten hours.
    period = quiet_period_at(utc("2026-11-01T05:00"), NIGHT, "America/New_York")
    assert period is not None
    assert (period.start, period.end) == (utc("2026-11-01T02:00"), utc("2026-11-01T12:00"))


def test_template_waits_for_the_end_of_quiet_hours() -> None:
    assert template_moment(closes=utc("2026-12-02T01:00"), quiet=NIGHT, zone_name="UTC") == utc(
        "2026-12-02T07:00"
    )
    assert template_moment(closes=utc("2026-12-02T09:00"), quiet=NIGHT, zone_name="UTC") == utc(
        "2026-12-02T09:00"
    )
    assert template_moment(closes=utc("2026-12-02T01:00"), quiet=None, zone_name="UTC") == utc(
        "2026-12-02T01:00"
    )


def test_an_unknown_zone_reads_as_utc() -> None:
    assert zone("Mars/Olympus") == zone("UTC")


@pytest.mark.parametrize(
    ("wa_id", "expected"),
    [
        ("12125550123", "America/New_York"),  # area code 212: one zone
        ("14155550123", "America/Los_Angeles"),
        ("491701234567", "Europe/Berlin"),  # Germany: one zone
        ("34612345678", "Asia/Tokyo"),  # Spain: Madrid or the Canaries, so the account's
        ("15550001111", "Asia/Tokyo"),  # an unplaceable range
        (None, "Asia/Tokyo"),  # known by BSUID only
    ],
)
def test_a_contacts_zone_comes_from_the_number_when_it_gives_one(
    wa_id: str | None, expected: str
) -> None:
    assert contact_zone(wa_id, account_timezone="Asia/Tokyo") == expected
