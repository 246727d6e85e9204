"""Session settings of an account: the switch, the hours and the message, with their history.

An account that never saved settings has the defaults (``core.vocabulary``); every save is
also appended to ``settings_changes``, in the same transaction.

Each save raises the account's settings ``version`` in that same transaction. Telling the
running sessions happens afterwards and may fail; ``delivered_version`` records how far it got,
so ``undelivered`` is the to-do list that makes propagation durable (docs/sessions.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.prices import MessagePrices
from core.reach import (
    DEFAULT_OPT_IN_KEYWORDS,
    DEFAULT_OPT_OUT_KEYWORDS,
    DEFAULT_TIMEZONE,
    FallbackTemplate,
    QuietHours,
)
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
    version=0,
    delivered_version=0,
    quiet_hours=None,
    timezone=DEFAULT_TIMEZONE,
    opt_out_keywords=DEFAULT_OPT_OUT_KEYWORDS,
    opt_in_keywords=DEFAULT_OPT_IN_KEYWORDS,
    fallback_template=None,
    message_prices=None,
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
        quiet_hours: QuietHours | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        opt_out_keywords: Sequence[str] = DEFAULT_OPT_OUT_KEYWORDS,
        opt_in_keywords: Sequence[str] = DEFAULT_OPT_IN_KEYWORDS,
        fallback_template: FallbackTemplate | None = None,
        message_prices: MessagePrices | None = None,
    ) -> SessionSettingsRecord:
        """Store new settings and append them to the history, in one transaction.

        The settings are a whole document: what is not given takes its default.
        """
        now = self._tx.now()
        reach: dict[str, Any] = {
            "quiet_hours": None if quiet_hours is None else quiet_hours.model_dump(),
            "timezone": timezone,
            "opt_out_keywords": list(opt_out_keywords),
            "opt_in_keywords": list(opt_in_keywords),
            "fallback_template": None
            if fallback_template is None
            else fallback_template.model_dump(),
            # Amounts stay the decimal strings they were written as (core.prices).
            "message_prices": None if message_prices is None else message_prices.model_dump(),
        }
        async with self._tx.write() as tx:
            if await tx.get(AccountRow, account_id) is None:
                raise AccountNotFound(account_id)
            values = {
                "enabled": enabled,
                "expiry_hours": expiry_hours,
                "message": message,
                **reach,
            }
            upsert = insert(tx, SessionSettingsRow).values(
                account_id=account_id, updated_at=now, version=1, **values
            )
            row = await tx.scalar(
                upsert.on_conflict_do_update(
                    index_elements=[SessionSettingsRow.account_id],
                    set_={**values, "updated_at": now, "version": SessionSettingsRow.version + 1},
                ).returning(SessionSettingsRow)
            )
            tx.add(
                SettingsChangeRow(
                    account_id=account_id,
                    changed_at=now,
                    changed_by=changed_by,
                    enabled=enabled,
                    expiry_hours=expiry_hours,
                    message=message,
                    reach=reach,
                )
            )
            assert row is not None  # an upsert always returns its row
            return to_record(SessionSettingsRecord, row)

    async def mark_delivered(self, *, account_id: str, version: int) -> None:
        """Every running session has been told about ``version`` (never moves backwards)."""
        async with self._tx.write() as tx:
            await tx.execute(
                update(SessionSettingsRow)
                .where(
                    SessionSettingsRow.account_id == account_id,
                    SessionSettingsRow.delivered_version < version,
                )
                .values(delivered_version=version)
            )

    async def undelivered(self, *, limit: int = 1000) -> list[tuple[str, int]]:
        """Accounts whose newest settings some running session may not know yet, with that
        version."""
        async with self._tx.read() as tx:
            rows = await tx.execute(
                select(SessionSettingsRow.account_id, SessionSettingsRow.version)
                .where(SessionSettingsRow.version > SessionSettingsRow.delivered_version)
                .order_by(SessionSettingsRow.account_id)
                .limit(limit)
            )
            return [(account_id, version) for account_id, version in rows]


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
