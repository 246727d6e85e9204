"""Reaching the customer the right way: quiet hours, opt-out, template fallback.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

- ``session_settings`` gains ``quiet_hours`` (JSON or NULL), ``timezone`` (IANA name, default
  ``UTC``), ``opt_out_keywords`` / ``opt_in_keywords`` (JSON lists, default ``["STOP"]`` /
  ``["START"]``) and ``fallback_template`` (JSON or NULL); ``settings_changes`` keeps them in
  ``reach`` (NULL in the changes saved before).
- ``contacts`` gains ``opted_out`` (default false) and ``opted_out_changed_at``.
- ``reminders`` gains ``kind`` (``reminder`` or ``template``, default ``reminder``),
  ``nominal_due_at`` and ``send_at``; ``outcome`` may also be ``skipped_quiet_hours`` and
  ``skipped_opted_out``.

Values are spelled out, as in 0001, so this revision keeps doing the same when the code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTCOMES_0002 = (
    "'pending', 'retrying', 'sent', 'skipped_disabled', 'skipped_window_closed', "
    "'failed_window_closed', 'failed', 'unknown', 'ambiguous', 'skipped_customer_replied'"
)
_OUTCOMES = _OUTCOMES_0002 + ", 'skipped_quiet_hours', 'skipped_opted_out'"
_OUTCOME_CHECK = "ck_reminders_outcome_known"
_KIND_CHECK = "ck_reminders_kind_known"


def upgrade() -> None:
    with op.batch_alter_table("session_settings") as batch:
        batch.add_column(sa.Column("quiet_hours", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"))
        batch.add_column(
            sa.Column("opt_out_keywords", sa.JSON(), nullable=False, server_default='["STOP"]')
        )
        batch.add_column(
            sa.Column("opt_in_keywords", sa.JSON(), nullable=False, server_default='["START"]')
        )
        batch.add_column(sa.Column("fallback_template", sa.JSON(), nullable=True))
    with op.batch_alter_table("settings_changes") as batch:
        batch.add_column(sa.Column("reach", sa.JSON(), nullable=True))
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(
            sa.Column("opted_out", sa.Boolean(), nullable=False, server_default=sa.text("false"))
        )
        batch.add_column(
            sa.Column("opted_out_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
    # Batch mode: SQLite cannot alter a constraint in place, so the table is copied.
    with op.batch_alter_table("reminders", recreate="always") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="reminder")
        )
        batch.add_column(sa.Column("nominal_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("send_at", sa.DateTime(timezone=True), nullable=True))
        batch.drop_constraint(op.f(_OUTCOME_CHECK), type_="check")
        batch.create_check_constraint(op.f(_OUTCOME_CHECK), f"outcome IN ({_OUTCOMES})")
        batch.create_check_constraint(op.f(_KIND_CHECK), "kind IN ('reminder', 'template')")


def downgrade() -> None:
    op.execute(
        "UPDATE reminders SET outcome = 'skipped_disabled' "
        "WHERE outcome IN ('skipped_quiet_hours', 'skipped_opted_out')"
    )
    # Template records have no place in the older schema: one silence, one record.
    op.execute("DELETE FROM reminders WHERE kind = 'template'")
    with op.batch_alter_table("reminders", recreate="always") as batch:
        batch.drop_constraint(op.f(_KIND_CHECK), type_="check")
        batch.drop_constraint(op.f(_OUTCOME_CHECK), type_="check")
        batch.create_check_constraint(op.f(_OUTCOME_CHECK), f"outcome IN ({_OUTCOMES_0002})")
        batch.drop_column("send_at")
        batch.drop_column("nominal_due_at")
        batch.drop_column("kind")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("opted_out_changed_at")
        batch.drop_column("opted_out")
    with op.batch_alter_table("settings_changes") as batch:
        batch.drop_column("reach")
    with op.batch_alter_table("session_settings") as batch:
        batch.drop_column("fallback_template")
        batch.drop_column("opt_in_keywords")
        batch.drop_column("opt_out_keywords")
        batch.drop_column("timezone")
        batch.drop_column("quiet_hours")
