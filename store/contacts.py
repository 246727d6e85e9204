"""Contacts: a customer of an account, with the data the merge fields need.

A contact row exists for every customer who ever wrote (the webhook makes sure of it before the
workflow can ask for it) and carries the conversation key, so the worker finds the number from
the key alone. The business may add first name, last name and email through the API; the
WhatsApp profile name comes from webhooks.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update

from store.errors import AccountNotFound
from store.models import AccountRow, ContactRow
from store.records import Contact
from store.transactions import Transactions, insert, to_record


class Contacts:
    """Data access for contacts."""

    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def ensure_sender(
        self,
        *,
        account_id: str,
        wa_id: str,
        conversation_key: str,
        profile_name: str | None,
    ) -> None:
        """Make sure a webhook's sender exists as a contact; refresh its WhatsApp profile name.

        One statement, so concurrent webhooks for the same customer cannot collide; the contact's
        own first/last name and email are never touched. This runs for every inbound message, so
        the common case (the contact exists, the name is unchanged) is a plain read: no write
        transaction, no wait for SQLite's single writer lock.
        """
        async with self._tx.read() as tx:
            stored = await tx.execute(
                select(ContactRow.profile_name).where(
                    ContactRow.account_id == account_id, ContactRow.wa_id == wa_id
                )
            )
            row = stored.one_or_none()
        if row is not None and (profile_name is None or row.profile_name == profile_name):
            return
        now = self._tx.now()
        async with self._tx.write() as tx:
            new = insert(tx, ContactRow).values(
                account_id=account_id,
                wa_id=wa_id,
                conversation_key=conversation_key,
                profile_name=profile_name,
                created_at=now,
                updated_at=now,
            )
            key = [ContactRow.account_id, ContactRow.wa_id]
            if profile_name is None:
                statement = new.on_conflict_do_nothing(index_elements=key)
            else:
                statement = new.on_conflict_do_update(
                    index_elements=key,
                    set_={"profile_name": profile_name, "updated_at": now},
                    # Skip the write (and the WAL traffic) when nothing changed: the common case.
                    where=ContactRow.profile_name.is_distinct_from(profile_name),
                )
            await tx.execute(statement)

    async def upsert(
        self,
        *,
        account_id: str,
        wa_id: str,
        conversation_key: str,
        first_name: str | None,
        last_name: str | None,
        email: str | None,
    ) -> tuple[Contact, bool]:
        """Create or replace a contact's merge-field data (keeps its profile name)."""
        now = self._tx.now()
        async with self._tx.write() as tx:
            if await tx.get(AccountRow, account_id) is None:
                raise AccountNotFound(account_id)
            fields = {"first_name": first_name, "last_name": last_name, "email": email}
            inserted = await tx.scalar(
                insert(tx, ContactRow)
                .values(
                    account_id=account_id,
                    wa_id=wa_id,
                    conversation_key=conversation_key,
                    created_at=now,
                    updated_at=now,
                    **fields,
                )
                .on_conflict_do_nothing(index_elements=[ContactRow.account_id, ContactRow.wa_id])
                .returning(ContactRow)
            )
            if inserted is not None:
                return to_record(Contact, inserted), True
            updated = await tx.scalar(
                update(ContactRow)
                .where(ContactRow.account_id == account_id, ContactRow.wa_id == wa_id)
                .values(updated_at=now, **fields)
                .returning(ContactRow)
            )
            assert updated is not None  # the insert conflicted, so the row exists
            return to_record(Contact, updated), False

    async def get(self, *, account_id: str, wa_id: str) -> Contact | None:
        async with self._tx.read() as tx:
            row = await tx.get(ContactRow, (account_id, wa_id))
            return None if row is None else to_record(Contact, row)

    async def by_keys(
        self, *, account_id: str, conversation_keys: Sequence[str]
    ) -> dict[str, Contact]:
        """The contacts of the given conversations, by conversation key (absent keys have none)."""
        if not conversation_keys:
            return {}
        async with self._tx.read() as tx:
            rows = await tx.scalars(
                select(ContactRow).where(
                    ContactRow.account_id == account_id,
                    ContactRow.conversation_key.in_(set(conversation_keys)),
                )
            )
            return {row.conversation_key: to_record(Contact, row) for row in rows}
