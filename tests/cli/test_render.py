"""Human-relative times and the tables the commands print."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cli import render

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=3), "just now"),
        (timedelta(seconds=-3), "just now"),
        (timedelta(seconds=45), "in 45 s"),
        (timedelta(minutes=-5), "5 min ago"),
        (timedelta(minutes=59), "in 59 min"),
        (timedelta(hours=3), "in 3 h"),
        (timedelta(hours=1, minutes=45), "in 1 h 45 min"),
        (timedelta(hours=-23), "23 h ago"),
        (timedelta(days=-3), "3 d ago"),
    ],
)
def test_relative(delta: timedelta, expected: str) -> None:
    assert render.relative(NOW + delta, now=NOW) == expected


def test_relative_of_nothing() -> None:
    assert render.relative(None, now=NOW) == "-"


def test_parse_time_accepts_z_and_naive_as_utc() -> None:
    assert render.parse_time("2024-05-01T12:00:00Z") == NOW
    assert render.parse_time("2024-05-01T12:00:00") == NOW
    assert render.parse_time("not a time") is None
    assert render.parse_time(None) is None


def test_sessions_table() -> None:
    text = render.sessions(
        [
            {
                "wa_id": "15551234567",
                "state": "waiting",
                "last_customer_message_at": "2024-05-01T11:00:00+00:00",
                "reminder_due_at": "2024-05-01T15:00:00+00:00",
                "window_closes_at": "2024-05-02T11:00:00+00:00",
                "reminder_outcome": None,
            }
        ],
        now=NOW,
    )
    header, rule, row = text.splitlines()
    assert header.split() == [
        "CUSTOMER",
        "STATE",
        "LAST",
        "MESSAGE",
        "DUE",
        "WINDOW",
        "CLOSES",
        "OUTCOME",
    ]
    assert set(rule) <= {"-", " "}
    assert "15551234567" in row
    assert "60 min ago" in row
    assert "in 3 h" in row
    assert "in 23 h" in row
    assert row.rstrip().endswith("-")


def test_a_customer_without_number_is_named_by_username_or_bsuid() -> None:
    bsuid = "US.13491208655302741918"
    assert render.customer({"wa_id": "15551234567", "user_id": bsuid}) == "15551234567"
    assert render.customer({"wa_id": None, "user_id": bsuid, "username": "@maria"}) == "@maria"
    assert render.customer({"wa_id": None, "user_id": bsuid, "username": None}) == bsuid
    assert render.customer({"wa_id": None, "conversation_key": "abc123"}) == "abc123"
    assert render.customer({}) == "-"
    shown = render.session({"wa_id": None, "user_id": bsuid, "username": "@maria"}, now=NOW)
    assert "customer: @maria" in " ".join(shown.split()) and bsuid in shown


def test_empty_lists() -> None:
    assert render.sessions([], now=NOW) == "no sessions"
    assert render.reminders([], now=NOW) == "no reminders yet"
    assert "no messages" in render.outbox([], now=NOW)


def test_reminder_error_code_shown() -> None:
    text = render.reminders(
        [
            {
                "decided_at": "2024-05-01T11:55:00+00:00",
                "wa_id": "15551234567",
                "outcome": "failed",
                "reason": "permanent",
                "error_code": 131026,
                "delivery_status": None,
                "message_id": None,
            }
        ],
        now=NOW,
    )
    assert "permanent (code 131026)" in text
    assert "5 min ago" in text


def test_reminders_name_their_kind() -> None:
    common = {"wa_id": "15551234567", "delivery_status": None, "message_id": None}
    text = render.reminders(
        [
            {
                **common,
                "decided_at": "2024-05-01T11:59:00+00:00",
                "kind": "template",
                "outcome": "sent",
                "reason": None,
            },
            {
                **common,
                "decided_at": "2024-05-01T11:00:00+00:00",
                "kind": "reminder",
                "outcome": "skipped_quiet_hours",
                "reason": "quiet hours",
            },
        ],
        now=NOW,
    )
    header, _, template_row, reminder_row = text.splitlines()
    assert header.split()[:4] == ["DECIDED", "CUSTOMER", "KIND", "OUTCOME"]
    assert template_row.split()[4:6] == ["template", "sent"]
    assert reminder_row.split()[4:6] == ["reminder", "skipped_quiet_hours"]


def test_outbox_names_a_bsuid_recipient() -> None:
    text = render.outbox(
        [
            {
                "received_at": "2024-05-01T11:59:00+00:00",
                "phone_number_id": "1001",
                "to": None,
                "user_id": "US.13491208655302741918",
                "answered_status": 200,
                "body": "Hi!",
            }
        ],
        now=NOW,
    )
    assert "US.13491208655302741918" in text.splitlines()[-1]
