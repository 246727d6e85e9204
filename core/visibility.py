"""Visibility queries over the conversation runs, built in one place.

The API lists an account's sessions with them, settings propagation signals them, and the local
stack's banner and the README offer them for the Temporal Web UI's filter (raw query editor) and
``temporal workflow list --query``. Attribute names come from ``core.temporal_names``; datetimes
are RFC 3339 literals in UTC, which is what the visibility store compares. Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from core.clock import utc_now
from core.temporal_names import (
    ACCOUNT_ID,
    CONVERSATION_WORKFLOW,
    REMINDER_DUE_AT,
    SESSION_STATE,
    WINDOW_CLOSES_AT,
)
from core.vocabulary import SessionState

RUNNING: Final = 'ExecutionStatus = "Running"'


def quote(value: str) -> str:
    """``value`` as a double-quoted string literal of the visibility query language."""
    # Account ids are [A-Za-z0-9_-] already; escaping keeps the query sound should that change.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def timestamp(moment: datetime) -> str:
    """``moment`` as the RFC 3339 UTC literal visibility queries compare datetimes with."""
    if moment.tzinfo is None:
        raise ValueError("visibility queries need timezone-aware datetimes")
    return quote(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def account_runs(account_id: str) -> str:
    """Every run of the account's conversations, open or closed."""
    return (
        f"{ACCOUNT_ID.name} = {quote(account_id)} AND WorkflowType = {quote(CONVERSATION_WORKFLOW)}"
    )


def account_sessions(account_id: str) -> str:
    """Open sessions of one account (what settings propagation signals)."""
    return f"{account_runs(account_id)} AND {RUNNING}"


def sessions_in_state(state: SessionState, *, account_id: str | None = None) -> str:
    """Sessions in ``state``, optionally of one account.

    ``expired`` also takes a run that ended any other way (terminated, timed out): it is over
    all the same. The other states are states of open runs.
    """
    if state is SessionState.EXPIRED:
        query = f'({SESSION_STATE.name} = {quote(state.value)} OR ExecutionStatus != "Running")'
    else:
        query = f"{SESSION_STATE.name} = {quote(state.value)} AND {RUNNING}"
    return query if account_id is None else f"{account_runs(account_id)} AND {query}"


def reminders_due_within(window: timedelta, *, now: datetime | None = None) -> str:
    """Sessions whose reminder falls due before ``now + window`` (overdue ones included)."""
    until = (now or utc_now()) + window
    return (
        f"{SESSION_STATE.name} = {quote(SessionState.WAITING.value)}"
        f" AND {REMINDER_DUE_AT.name} < {timestamp(until)} AND {RUNNING}"
    )


def windows_closing_within(window: timedelta, *, now: datetime | None = None) -> str:
    """Sessions whose 24-hour customer service window closes before ``now + window``."""
    until = (now or utc_now()) + window
    return f"{WINDOW_CLOSES_AT.name} < {timestamp(until)} AND {RUNNING}"
