"""Audit retention: final reminder records older than ``AUDIT_RETENTION_DAYS`` are deleted.

A reminder record keeps the rendered text (the customer's name, maybe their email), their
number or BSUID and Meta's error reasons, so it is personal data with a shelf life
(SECURITY.md). The worker calls ``purge`` once a day.

Only *final* records go: a record still in flight (``pending``, ``retrying``, ``ambiguous``) is
the idempotency record of a send that may yet happen or be proved, and deleting it could let
the same silence be sent twice. A final record past the retention belongs to a silence whose
24-hour window closed long ago, so nothing will claim its key again. Deletion runs in batches,
each its own short transaction, so a large backlog never holds a long lock (SQLite has one
writer at a time).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, delete, select

from core.vocabulary import DECISIONS
from store.models import ReminderRow
from store.transactions import Transactions

PURGE_BATCH = 1_000
# The decisions, in a fixed order so that the statement is the same every time.
_FINAL = tuple(sorted(DECISIONS))


def oldest_final(cutoff: datetime, *, batch: int) -> Select[str]:
    """The ids of the oldest ``batch`` final records decided before ``cutoff``, across every
    account (served by ``ix_reminders_decided_at``)."""
    return (
        select(ReminderRow.reminder_id)
        .where(ReminderRow.decided_at < cutoff, ReminderRow.outcome.in_(_FINAL))
        .order_by(ReminderRow.decided_at)
        .limit(batch)
    )


class AuditRetention:
    """Deletes final reminder records decided before a cut-off."""

    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def purge(
        self, *, retention: timedelta, batch: int = PURGE_BATCH, at: datetime | None = None
    ) -> int:
        """Delete final records decided more than ``retention`` ago; returns how many."""
        if retention <= timedelta(0):
            raise ValueError("retention must be positive (0 days means: do not purge)")
        if batch < 1:
            raise ValueError("batch must be at least 1")
        cutoff = self._tx.now(at) - retention
        deleted = 0
        while True:
            async with self._tx.write() as tx:
                # Select the ids first: DELETE … LIMIT is not portable (SQLite needs a
                # compile option, PostgreSQL has none).
                ids = list(await tx.scalars(oldest_final(cutoff, batch=batch)))
                if ids:
                    gone = await tx.scalars(
                        delete(ReminderRow)
                        .where(
                            ReminderRow.reminder_id.in_(ids),
                            # Re-checked: a row claimed again since the SELECT is not final.
                            ReminderRow.outcome.in_(_FINAL),
                        )
                        .returning(ReminderRow.reminder_id)
                    )
                    deleted += len(gone.all())
            if len(ids) < batch:
                return deleted
