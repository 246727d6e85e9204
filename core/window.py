"""Customer-service-window arithmetic (docs/sessions.md). Pure functions, UTC-aware."""

from __future__ import annotations

from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)


def advance_last_message(
    current: datetime | None, *, sent_at: datetime, received_at: datetime
) -> datetime:
    """T after one more customer message: never in the future, never moving backwards."""
    candidate = min(sent_at, received_at)
    return candidate if current is None or candidate > current else current


def window_closes_at(last_customer_message_at: datetime) -> datetime:
    """Nothing may be sent at or after this instant."""
    return last_customer_message_at + WINDOW


def reminder_due_at(last_customer_message_at: datetime, expiry_hours: int) -> datetime:
    """When the silence that began at T earns its reminder under the current settings."""
    return last_customer_message_at + timedelta(hours=expiry_hours)


def answers_reminder(*, sent_at: datetime, message_at: datetime, closes_at: datetime) -> bool:
    """Whether a customer message of ``message_at`` replies to the reminder sent at ``sent_at``
    in the window that closes at ``closes_at``: written after the send and before the close.

    Meta's timestamps have no fraction of a second, so a message of the send's own second
    counts (nobody writes before a reminder and gets it in the same second).
    """
    return sent_at.replace(microsecond=0) <= message_at < closes_at
