"""``--ago`` parsing: the forms operators type, and clear refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cli.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("59m", timedelta(minutes=59)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        (" 1H 30M ", timedelta(hours=1, minutes=30)),
        ("0", timedelta(0)),
        ("0m", timedelta(0)),
        ("25h", timedelta(hours=25)),
    ],
)
def test_parses(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "m", "59", "1.5h", "-5m", "30m1h", "1h1h", "5 minutes", "1w", "h30m", "1h30"]
)
def test_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_refuses_absurdly_large() -> None:
    with pytest.raises(ValueError, match="too large"):
        parse_duration("9999999999999d")
