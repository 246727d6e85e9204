"""``Store``: the one object through which the service reaches its database.

It groups the data access by aggregate, each in its own module over the shared plumbing of
``store.transactions``::

    store.accounts    Accounts         store/accounts.py
    store.settings    SessionSettings  store/settings.py
    store.contacts    Contacts         store/contacts.py
    store.reminders   Reminders        store/reminders.py (the never-duplicate protocol)
    store.tokens      Tokens           store/tokens.py (account-scoped API tokens, by hash)
    store.retention   AuditRetention   store/retention.py (purging old audit records)
    store.analytics   Analytics        store/analytics.py (counts over the audit trail)
    store.pacing      SendPacing       store/pacing.py (send slots shared by every worker)

Every method is keyword-only, opens its own short transaction and returns frozen records. A
``Store`` is safe to share between concurrent tasks.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, utc_now
from store.accounts import Accounts
from store.analytics import Analytics
from store.contacts import Contacts
from store.pacing import SendPacing
from store.reminders import Reminders
from store.retention import AuditRetention
from store.settings import SessionSettings
from store.tokens import Tokens
from store.transactions import Transactions


class Store:
    """Data access for the API and the worker."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, clock: Clock = utc_now
    ) -> None:
        self._transactions = Transactions(sessionmaker, clock=clock)
        self.accounts = Accounts(self._transactions)
        self.settings = SessionSettings(self._transactions)
        self.contacts = Contacts(self._transactions)
        self.reminders = Reminders(self._transactions)
        self.tokens = Tokens(self._transactions)
        self.retention = AuditRetention(self._transactions)
        self.analytics = Analytics(self._transactions)
        self.pacing = SendPacing(self._transactions)

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query (readiness probe)."""
        async with self._transactions.read() as tx:
            await tx.execute(text("SELECT 1"))
