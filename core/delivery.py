"""How a reminder's record follows what Meta tells us: pure rules, no I/O (docs/sending.md).

Two kinds of evidence reach a reminder after its send was claimed:

- what the send activity learned from Meta's answer (``finish``), and
- status webhooks (``sent`` → ``delivered`` → ``read``, or ``failed``), which can arrive late,
  twice, out of order, or even before the activity recorded its own answer.

The rules below decide what the record becomes; ``store.reminders`` applies them under a row
lock. They are here, apart from the SQL, so that each can be read and tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from core.vocabulary import (
    IN_FLIGHT_OUTCOMES,
    WINDOW_CLOSED_ERROR_CODE,
    DeliveryStatus,
    ReminderOutcome,
)

# Delivery states only move forward; ``failed`` has no rank (see ``delivery_advances``).
_RANK: Final = {DeliveryStatus.SENT: 1, DeliveryStatus.DELIVERED: 2, DeliveryStatus.READ: 3}
# Outcomes a status webhook may correct: any status proves Meta accepted the message, whatever
# the record thought of the attempt (even ``retrying``: a status is stronger than a guess).
UNPROVEN_OUTCOMES: Final = IN_FLIGHT_OUTCOMES | {ReminderOutcome.UNKNOWN}
# Outcomes the sender may still overwrite with its own answer. A final outcome already written
# by a status webhook (which can overtake the sending activity) is evidence, and is kept.
FINISHABLE_OUTCOMES: Final = IN_FLIGHT_OUTCOMES | {ReminderOutcome.UNKNOWN}


def delivery_advances(*, current: DeliveryStatus | None, new: DeliveryStatus) -> bool:
    """Whether a status webhook moves the delivery state forward.

    A late ``delivered`` never overwrites ``read``, and nothing follows ``failed``. Meta reports
    ``failed`` only before delivery; after ``delivered`` it would contradict itself.
    """
    if current is DeliveryStatus.FAILED:
        return False
    if new is DeliveryStatus.FAILED:
        return current is None or current is DeliveryStatus.SENT
    return _RANK[new] > (0 if current is None else _RANK[current])


@dataclass(frozen=True, slots=True)
class Delivery:
    """The part of a reminder record that status webhooks may change."""

    outcome: ReminderOutcome
    delivery_status: DeliveryStatus | None
    error_code: int | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One status webhook about a reminder."""

    status: DeliveryStatus
    error_code: int | None = None
    error_message: str | None = None


def fold_status(current: Delivery, report: StatusReport) -> tuple[Delivery, bool]:
    """The record after one status webhook, and whether its delivery state moved forward.

    - A status that moves the state forward is recorded; a ``failed`` one also records Meta's
      error, and makes the outcome ``failed_window_closed`` for an asynchronous 131047, or
      ``failed`` where the send's fate was not yet proven.
    - Any other status, even a stale duplicate, proves the message left: an unproven outcome
      (in flight, or ``unknown``) becomes ``sent``.
    """
    result = current
    advanced = delivery_advances(current=current.delivery_status, new=report.status)
    if advanced:
        result = replace(result, delivery_status=report.status)
        if report.status is DeliveryStatus.FAILED:
            result = replace(result, error_code=report.error_code, reason=report.error_message)
            if report.error_code == WINDOW_CLOSED_ERROR_CODE:
                result = replace(result, outcome=ReminderOutcome.FAILED_WINDOW_CLOSED)
            elif result.outcome in UNPROVEN_OUTCOMES:
                # A status exists only for a message Meta accepted: it left, then failed.
                result = replace(result, outcome=ReminderOutcome.FAILED)
    if report.status is not DeliveryStatus.FAILED and result.outcome in UNPROVEN_OUTCOMES:
        result = replace(result, outcome=ReminderOutcome.SENT)
    return result, advanced


def sender_may_finish(outcome: ReminderOutcome) -> bool:
    """Whether the sending activity's own answer may still replace ``outcome``."""
    return outcome in FINISHABLE_OUTCOMES
