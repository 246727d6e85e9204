"""Account-scoped API tokens: create, list, revoke, and the lookup behind every request.

The store never sees a token, only its hash (``core.api_tokens.token_hash``); a revoked token
keeps its row (with ``revoked_at``) so that the list shows what existed and when it ended.
"""

from __future__ import annotations

from sqlalchemy import select, update

from store.errors import AccountNotFound
from store.models import AccountRow, ApiTokenRow
from store.records import ApiToken
from store.transactions import Transactions, to_record


class Tokens:
    """Data access for the accounts' API tokens."""

    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def create(
        self, *, account_id: str, token_id: str, token_hash: str, label: str | None = None
    ) -> ApiToken:
        """Store a new token of ``account_id`` by its hash; ``AccountNotFound`` if none."""
        now = self._tx.now()
        async with self._tx.write() as tx:
            if await tx.get(AccountRow, account_id) is None:
                raise AccountNotFound(account_id)
            row = ApiTokenRow(
                token_id=token_id,
                account_id=account_id,
                token_hash=token_hash,
                label=label,
                created_at=now,
                revoked_at=None,
            )
            tx.add(row)
            await tx.flush()
            return to_record(ApiToken, row)

    async def revoke(self, *, account_id: str, token_id: str) -> ApiToken | None:
        """Revoke one token of the account (again: a no-op); None if it has no such token."""
        now = self._tx.now()
        async with self._tx.write() as tx:
            await tx.execute(
                update(ApiTokenRow)
                .where(
                    ApiTokenRow.token_id == token_id,
                    ApiTokenRow.account_id == account_id,
                    ApiTokenRow.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            row = await tx.scalar(
                select(ApiTokenRow).where(
                    ApiTokenRow.token_id == token_id, ApiTokenRow.account_id == account_id
                )
            )
            return None if row is None else to_record(ApiToken, row)

    async def find_active_by_hash(self, *, token_hash: str) -> ApiToken | None:
        """The unrevoked token with this hash (read on every request that carries one)."""
        async with self._tx.read() as tx:
            row = await tx.scalar(
                select(ApiTokenRow).where(
                    ApiTokenRow.token_hash == token_hash, ApiTokenRow.revoked_at.is_(None)
                )
            )
            return None if row is None else to_record(ApiToken, row)

    async def list(self, *, account_id: str) -> list[ApiToken]:
        """Every token of the account, revoked ones included, oldest first."""
        async with self._tx.read() as tx:
            rows = await tx.scalars(
                select(ApiTokenRow)
                .where(ApiTokenRow.account_id == account_id)
                .order_by(ApiTokenRow.created_at, ApiTokenRow.token_id)
            )
            return [to_record(ApiToken, row) for row in rows]
