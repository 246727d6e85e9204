"""Exactly once: two reminder outcomes, and settings versions for durable propagation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

- ``reminders.outcome`` may also be ``ambiguous`` (a send that may have reached Meta, waiting
  for proof) and ``skipped_customer_replied`` (a retried send abandoned because the customer
  wrote again).
- ``session_settings.version`` counts the saves of an account's settings and
  ``delivered_version`` is the newest one every running session has been told about; a
  version above the delivered one is what the reconciler delivers again.

Values are spelled out, as in 0001, so this revision keeps doing the same when the code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTCOMES_0001 = (
    "'pending', 'retrying', 'sent', 'skipped_disabled', 'skipped_window_closed', "
    "'failed_window_closed', 'failed', 'unknown'"
)
_OUTCOMES = _OUTCOMES_0001 + ", 'ambiguous', 'skipped_customer_replied'"
_CHECK = "ck_reminders_outcome_known"


def _replace_outcome_check(outcomes: str) -> None:
    # Batch mode: SQLite cannot alter a constraint in place, so the table is copied.
    with op.batch_alter_table("reminders", recreate="always") as batch:
        batch.drop_constraint(op.f(_CHECK), type_="check")
        batch.create_check_constraint(op.f(_CHECK), f"outcome IN ({outcomes})")


def upgrade() -> None:
    _replace_outcome_check(_OUTCOMES)
    with op.batch_alter_table("session_settings") as batch:
        batch.add_column(
            sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(
            sa.Column(
                "delivered_version", sa.Integer(), nullable=False, server_default=sa.text("0")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("session_settings") as batch:
        batch.drop_column("delivered_version")
        batch.drop_column("version")
    op.execute(
        "UPDATE reminders SET outcome = 'unknown' "
        "WHERE outcome IN ('ambiguous', 'skipped_customer_replied')"
    )
    _replace_outcome_check(_OUTCOMES_0001)
