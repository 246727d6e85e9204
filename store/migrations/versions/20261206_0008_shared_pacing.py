"""Pacing shared by every worker: one row per business number.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

- ``send_pacing (pacing_key, next_slot_at, reserved_at)``: the send slots of each business
  number, reserved by every worker process through one conditional upsert, so that N workers
  together keep Meta's per-number rate (docs/sending.md#pacing). Times are seconds since the
  epoch on the database's clock, as doubles: both dialects do the arithmetic the same way.

Values are spelled out, as in 0001, so this revision keeps doing the same when the code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_pacing",
        sa.Column("pacing_key", sa.String(64), nullable=False),
        sa.Column("next_slot_at", sa.Double(), nullable=False),
        sa.Column("reserved_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("pacing_key", name="pk_send_pacing"),
    )


def downgrade() -> None:
    op.drop_table("send_pacing")
