"""Reads only tests need: straight from the tables, for what the service itself never reads back.

The store has no "get a reminder by id" or "list the settings history" because no part of the
service asks for them; tests check what was written with these instead.
"""

from __future__ import annotations

from sqlalchemy import select

from store.models import ReminderRow, SettingsChangeRow
from store.records import ReminderRecord
from store.repository import Store
from store.transactions import to_record


async def reminder_by_id(store: Store, reminder_id: str) -> ReminderRecord | None:
    async with store._transactions.read() as tx:
        row = await tx.get(ReminderRow, reminder_id)
        return None if row is None else to_record(ReminderRecord, row)


async def settings_history(
    store: Store, account_id: str, *, limit: int = 50
) -> list[SettingsChangeRow]:
    """The account's saved settings versions, newest first (detached rows)."""
    async with store._transactions.read() as tx:
        rows = await tx.scalars(
            select(SettingsChangeRow)
            .where(SettingsChangeRow.account_id == account_id)
            .order_by(SettingsChangeRow.changed_at.desc(), SettingsChangeRow.id.desc())
            .limit(limit)
        )
        return list(rows)
