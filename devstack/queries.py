"""Example visibility queries for the local stack's banner and the README.

Paste one into the Temporal Web UI's workflow filter (switch it to the raw query editor) to
find sessions by account, state or due time. They are built by ``core.visibility``, which the
API uses too, and the tests run them against the dev server, so they cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core import visibility
from core.vocabulary import SessionState

DEMO_ACCOUNT_SESSIONS = visibility.account_sessions("demo")
"""Example: ``AccountId = "demo" AND ExecutionStatus = "Running"``."""

WAITING_SESSIONS = visibility.sessions_in_state(SessionState.WAITING)
"""Example: sessions with a reminder armed."""

REMINDED_SESSIONS = visibility.sessions_in_state(SessionState.REMINDED)
"""Example: sessions whose current silence already got its reminder decision."""


def reminders_due_in_next_hour(*, now: datetime | None = None) -> str:
    """Example: ``SessionState = "waiting" AND ReminderDueAt < "<now + 1 h>" AND …``."""
    return visibility.reminders_due_within(timedelta(hours=1), now=now)


EXAMPLES: dict[str, str] = {
    "sessions of the demo account": DEMO_ACCOUNT_SESSIONS,
    "sessions waiting for their reminder": WAITING_SESSIONS,
    "sessions already reminded": REMINDED_SESSIONS,
}
"""Fixed examples for the banner and README; the due-time ones depend on now."""
