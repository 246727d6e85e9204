"""Customers known by phone number, by business-scoped user id (BSUID), or both.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

- ``contacts`` is keyed by the conversation key (which names the workflow and never changes)
  instead of the phone number, which may now be unknown. It gains ``user_id`` (the BSUID),
  ``parent_user_id`` and ``username``; a contact has a number, a BSUID, or both, each unique
  within the account. Existing rows keep their conversation keys, so running sessions keep
  their workflow ids.
- ``reminders.wa_id`` may be null, and ``reminders.user_id`` names a customer without a number.
  The audit is filtered by conversation key from now on, so the index by number goes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BSUID = sa.String(length=160)


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table (copying every row); PostgreSQL alters in place.
    with op.batch_alter_table("contacts", recreate="always") as batch:
        batch.drop_constraint("uq_contacts_account_id_conversation_key", type_="unique")
        batch.drop_constraint("pk_contacts", type_="primary")
        batch.create_primary_key("pk_contacts", ["account_id", "conversation_key"])
        batch.alter_column("wa_id", existing_type=sa.String(length=32), nullable=True)
        batch.add_column(sa.Column("user_id", _BSUID, nullable=True))
        batch.add_column(sa.Column("parent_user_id", _BSUID, nullable=True))
        batch.add_column(sa.Column("username", sa.Text(), nullable=True))
        batch.create_unique_constraint("uq_contacts_account_id_wa_id", ["account_id", "wa_id"])
        batch.create_unique_constraint("uq_contacts_account_id_user_id", ["account_id", "user_id"])
        batch.create_check_constraint(
            op.f("ck_contacts_identified"),
            "wa_id IS NOT NULL OR user_id IS NOT NULL OR parent_user_id IS NOT NULL",
        )
    op.drop_index("ix_reminders_account_wa_decided", table_name="reminders")
    with op.batch_alter_table("reminders") as batch:
        batch.alter_column("wa_id", existing_type=sa.String(length=32), nullable=True)
        batch.add_column(sa.Column("user_id", _BSUID, nullable=True))


def downgrade() -> None:
    # Customers known only by BSUID cannot be kept in the older schema.
    op.execute("DELETE FROM reminders WHERE wa_id IS NULL")
    op.execute("DELETE FROM contacts WHERE wa_id IS NULL")
    with op.batch_alter_table("reminders") as batch:
        batch.drop_column("user_id")
        batch.alter_column("wa_id", existing_type=sa.String(length=32), nullable=False)
    op.create_index(
        "ix_reminders_account_wa_decided",
        "reminders",
        ["account_id", "wa_id", "decided_at", "reminder_id"],
    )
    with op.batch_alter_table("contacts", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_contacts_identified"), type_="check")
        batch.drop_constraint("uq_contacts_account_id_user_id", type_="unique")
        batch.drop_constraint("uq_contacts_account_id_wa_id", type_="unique")
        batch.drop_column("username")
        batch.drop_column("parent_user_id")
        batch.drop_column("user_id")
        batch.alter_column("wa_id", existing_type=sa.String(length=32), nullable=False)
        batch.drop_constraint("pk_contacts", type_="primary")
        batch.create_primary_key("pk_contacts", ["account_id", "wa_id"])
        batch.create_unique_constraint(
            "uq_contacts_account_id_conversation_key", ["account_id", "conversation_key"]
        )
