"""Does it pay: replies after reminders, and the account's message prices.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

- ``reminders`` gains ``replied_at`` (the customer's first message after the reminder was
  sent, inside that window; NULL when none) and ``reply_seconds`` (from the send to it).
- ``session_settings`` gains ``message_prices`` (JSON or NULL): what Meta charges the account
  per delivered message, by country calling code (docs/analytics.md).
- ``ix_reminders_account_kind_decided`` on ``reminders (account_id, kind, decided_at, outcome,
  delivery_status, replied_at, reply_seconds, wa_id)``: the analytics endpoint counts one
  account's reminders (or templates) over a range of decision times, and every column it reads
  is in the index, so both dialects answer it from the index alone (docs/analytics.md#the-index).

Values are spelled out, as in 0001, so this revision keeps doing the same when the code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reminders") as batch:
        batch.add_column(sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reply_seconds", sa.Integer(), nullable=True))
    with op.batch_alter_table("session_settings") as batch:
        batch.add_column(sa.Column("message_prices", sa.JSON(), nullable=True))
    # A plain index: no batch mode needed on SQLite. After the columns it covers exist.
    op.create_index(
        "ix_reminders_account_kind_decided",
        "reminders",
        [
            "account_id",
            "kind",
            "decided_at",
            "outcome",
            "delivery_status",
            "replied_at",
            "reply_seconds",
            "wa_id",
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_reminders_account_kind_decided", table_name="reminders")
    with op.batch_alter_table("session_settings") as batch:
        batch.drop_column("message_prices")
    with op.batch_alter_table("reminders") as batch:
        batch.drop_column("reply_seconds")
        batch.drop_column("replied_at")
