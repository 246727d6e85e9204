"""Session settings of an account: the switch, the hours and the message, with their history.

An account that never saved settings has the defaults (``core.vocabulary``); every save is
also appended to ``settings_changes``, in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.vocabulary import DEFAULT_ENABLED, DEFAULT_EXPIRY_HOURS, DEFAULT_MESSAGE
from store.errors import AccountNotFound
from store.models import AccountRow, SessionSettingsRow, SettingsChangeRow
from store.records import SessionSettingsRecord
from store.transactions import Transactions, insert, to_record

DEFAULT_SETTINGS = SessionSettingsRecord(
    enabled=DEFAULT_ENABLED,
    expiry_hours=DEFAULT_EXPIRY_HOURS,
    message=DEFAULT_MESSAGE,
    updated_at=None,
)


class SessionSettings:
    """Data access for the accounts' session settings."""

    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def get(self, *, account_id: str) -> SessionSettingsRecord:
        """The account's settings, or the defaults while it has never saved any."""
        async with self._tx.read() as tx:
            found = await settings_of(tx, account_id)
        if found is None:
            raise AccountNotFound(account_id)
        return found

    async def save(
        self,
        *,
        account_id: str,
        enabled: bool,
        expiry_hours: int,
        message: str,
        changed_by: str,
    ) -> SessionSettingsRecord:
        """Store new settings and append them to the history, in one transaction."""
        now = self._tx.now()
        async with self._tx.write() as tx:
            if await tx.get(AccountRow, account_id) is None:
                raise AccountNotFound(account_id)
            values = {"enabled": enabled, "expiry_hours": expiry_hours, "message": message}
            upsert = insert(tx, SessionSettingsRow).values(
                account_id=account_id, updated_at=now, **values
            )
            row = await tx.scalar(
                upsert.on_conflict_do_update(
                    index_elements=[SessionSettingsRow.account_id],
                    set_={**values, "updated_at": now},
                ).returning(SessionSettingsRow)
            )
            tx.add(
                SettingsChangeRow(
                    account_id=account_id, changed_at=now, changed_by=changed_by, **values
                )
            )
            assert row is not None  # an upsert always returns its row
            return to_record(SessionSettingsRecord, row)


async def settings_of(tx: AsyncSession, account_id: str) -> SessionSettingsRecord | None:
    """Settings (defaults while never saved); None when the account does not exist."""
    result = await tx.execute(
        select(AccountRow.account_id, SessionSettingsRow)
        .outerjoin(SessionSettingsRow)
        .where(AccountRow.account_id == account_id)
    )
    found = result.one_or_none()
    if found is None:
        return None
    row: SessionSettingsRow | None = found[1]
    return DEFAULT_SETTINGS if row is None else to_record(SessionSettingsRecord, row)
