"""Visibility queries for the Temporal Web UI (and ``temporal workflow list --query``).

Paste one into the Web UI's workflow filter (switch it to the raw query editor) to find
sessions by account, state or due time (SPEC §6). The README quotes these and the tests run
them against the dev server, so they cannot drift apart. Search-attribute names come from
``workflows.names``; times are RFC 3339 in UTC, which is what the visibility store compares.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.session import SessionState
from workflows.names import (
    ACCOUNT_ID,
    REMINDER_DUE_AT,
    SESSION_STATE,
    WINDOW_CLOSES_AT,
)

RUNNING = 'ExecutionStatus = "Running"'


def quote_value(value: str) -> str:
    """A string literal of the visibility query language."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def timestamp(moment: datetime) -> str:
    """``moment`` as the RFC 3339 UTC literal visibility queries compare datetimes with."""
    if moment.tzinfo is None:
        raise ValueError("visibility queries need timezone-aware datetimes")
    return quote_value(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def account_sessions(account_id: str) -> str:
    """Open sessions of one account."""
    return f"{ACCOUNT_ID.name} = {quote_value(account_id)} AND {RUNNING}"


def sessions_in_state(state: SessionState, *, account_id: str | None = None) -> str:
    """Open sessions in ``state`` (waiting, reminded, paused), optionally of one account."""
    query = f"{SESSION_STATE.name} = {quote_value(state.value)} AND {RUNNING}"
    if account_id is not None:
        query = f"{ACCOUNT_ID.name} = {quote_value(account_id)} AND {query}"
    return query


def reminders_due_within(window: timedelta, *, now: datetime | None = None) -> str:
    """Sessions whose reminder falls due before ``now + window`` (overdue ones included)."""
    until = (now or datetime.now(UTC)) + window
    return (
        f"{SESSION_STATE.name} = {quote_value(SessionState.WAITING.value)}"
        f" AND {REMINDER_DUE_AT.name} < {timestamp(until)} AND {RUNNING}"
    )


def windows_closing_within(window: timedelta, *, now: datetime | None = None) -> str:
    """Sessions whose 24-hour customer service window closes before ``now + window``."""
    until = (now or datetime.now(UTC)) + window
    return f"{WINDOW_CLOSES_AT.name} < {timestamp(until)} AND {RUNNING}"


DEMO_ACCOUNT_SESSIONS = account_sessions("demo")
"""Example: ``AccountId = "demo" AND ExecutionStatus = "Running"``."""

WAITING_SESSIONS = sessions_in_state(SessionState.WAITING)
"""Example: sessions with a reminder armed."""

REMINDED_SESSIONS = sessions_in_state(SessionState.REMINDED)
"""Example: sessions whose current silence already got its reminder decision."""


def reminders_due_in_next_hour(*, now: datetime | None = None) -> str:
    """Example: ``SessionState = "waiting" AND ReminderDueAt < "<now + 1 h>" AND …``."""
    return reminders_due_within(timedelta(hours=1), now=now)


EXAMPLES: dict[str, str] = {
    "sessions of the demo account": DEMO_ACCOUNT_SESSIONS,
    "sessions waiting for their reminder": WAITING_SESSIONS,
    "sessions already reminded": REMINDED_SESSIONS,
}
"""Fixed examples for the banner and README; the due-time ones depend on now."""
