"""An index for the audit retention purge.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

- ``ix_reminders_decided_at`` on ``reminders.decided_at``: the daily purge (``store.retention``)
  reads the oldest final records of *every* account, ``decided_at < cut-off`` in
  ``decided_at`` order, which the per-account indexes cannot serve; without this it scanned
  the whole table once a day.

Values are spelled out, as in 0001, so this revision keeps doing the same when the code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain index: no batch mode needed on SQLite.
    op.create_index("ix_reminders_decided_at", "reminders", ["decided_at"])


def downgrade() -> None:
    op.drop_index("ix_reminders_decided_at", table_name="reminders")
