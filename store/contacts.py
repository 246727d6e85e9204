"""Contacts: a customer of an account, however Meta names them, with their merge-field data.

A customer is known by phone number (``wa_id``), by business-scoped user id (``user_id``, the
BSUID of a customer who may hide their number behind a username), or both; each is unique within
the account (docs/sessions.md#who-the-customer-is). The contact is keyed by its conversation
key, given when the customer first appeared and never changed, so a customer first named by one
identifier and later by another, or both, stays one conversation: the webhook finds the contact
through any identifier it shares and adds the ones it did not know.

A contact row exists for every customer who ever wrote (the webhook makes sure of it before the
workflow can ask for it), so the worker finds the customer from the key alone. The business may
add first name, last name and email through the API; the WhatsApp profile name and username come
from webhooks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.identity import CustomerIdentity
from store.errors import AccountNotFound
from store.group_commit import GroupCommit
from store.models import AccountRow, ContactRow
from store.records import Contact
from store.transactions import Transactions, insert, to_record

logger = logging.getLogger(__name__)

# Rows per write transaction of ``insert_new``, so that other writers get their turn.
_INSERT_CHUNK = 1_000


@dataclass(frozen=True)
class NewSender:
    """A webhook's sender no contact is known for yet, with the key a new contact gets."""

    account_id: str
    identity: CustomerIdentity
    key: str
    profile_name: str | None


class Contacts:
    """Data access for contacts."""

    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions
        # New customers of concurrent webhooks share one insert (store.group_commit).
        self._new_senders = GroupCommit(self._insert_group)

    async def resolve_sender(
        self,
        *,
        account_id: str,
        identity: CustomerIdentity,
        new_key: str,
        profile_name: str | None,
        likely_new: bool = False,
    ) -> Contact:
        """The contact a webhook's sender is, created (with ``new_key``) or completed.

        Identifiers and names the webhook brings that the contact lacks are stored; the
        contact's own first/last name and email are never touched. This runs for every
        inbound conversation, so the common case (known contact, nothing new) is a plain read:
        no write transaction, no wait for SQLite's single writer lock. A sender the caller
        believes new (``likely_new``: not in its cache) is inserted first instead: one write
        transaction rather than a read and a write, and the read path follows only when the
        insert finds the customer already there.
        """
        if likely_new and identity.parent_user_id is None:
            # Without a parent BSUID, "some contact shares an identifier" is exactly "the insert
            # conflicts on a unique column", so an insert that goes in is the whole answer. It
            # shares its transaction with the other new customers of the moment.
            created = await self._new_senders.submit(
                NewSender(account_id, identity, new_key, profile_name)
            )
            if created is not None:
                return created
        async with self._tx.read() as tx:
            found = await _matching(tx, account_id, identity)
        chosen = _choose(found, identity)
        if chosen is not None and not _news(chosen, identity, profile_name):
            return to_record(Contact, chosen)
        now = self._tx.now()
        async with self._tx.write() as tx:
            if chosen is None:
                # A racing webhook may have created it first: then it is read below.
                created = await _insert_new(
                    tx, account_id, new_key, identity, profile_name, now=now
                )
                if created is not None:
                    return created
            found = await _matching(tx, account_id, identity)
            chosen = _choose(found, identity)
            assert chosen is not None  # inserted, or inserted by the webhook that raced us
            values = _additions(chosen, identity, profile_name, others=found)
            if values:
                chosen = await _update(tx, chosen, updated_at=now, **values)
            return to_record(Contact, chosen)

    async def insert_new(self, senders: Sequence[NewSender]) -> dict[str, Contact]:
        """Insert many customers believed new at once; the contacts that went in, by key.

        A large webhook POST from thousands of new customers would otherwise take a write
        transaction each, one after another on SQLite. A sender one of whose identifiers (or
        whose key) is already taken is left out, and the caller resolves it with
        ``resolve_sender``. Senders with a parent BSUID are the caller's to resolve too (see
        ``resolve_sender``).
        """
        created: dict[str, Contact] = {}
        now = self._tx.now()
        # One row per key: a second sender of the same key (the same customer, perhaps named
        # with one more identifier) is left to resolve_sender, which adds what it brings.
        unique: dict[tuple[str, str], NewSender] = {}
        for sender in senders:
            unique.setdefault((sender.account_id, sender.key), sender)
        senders = list(unique.values())
        for start in range(0, len(senders), _INSERT_CHUNK):
            rows = [
                _new(s.account_id, s.key, s.identity, now) | {"profile_name": s.profile_name}
                for s in senders[start : start + _INSERT_CHUNK]
            ]
            async with self._tx.write() as tx:
                # One statement with the rows as parameters: SQLAlchemy sends them as few
                # multi-row INSERTs ("insertmanyvalues"), compiled once; a multi-row .values()
                # is compiled anew for every row (2.5 s for 15,000 contacts).
                inserted = await tx.execute(
                    insert(tx, cast(Any, ContactRow.__table__))
                    .on_conflict_do_nothing()
                    .returning(ContactRow.account_id, ContactRow.conversation_key),
                    rows,
                )
                went_in = {tuple(row) for row in inserted}
            for row in rows:
                if (row["account_id"], row["conversation_key"]) in went_in:
                    created[row["conversation_key"]] = Contact(
                        **row, first_name=None, last_name=None, email=None
                    )
        return created

    async def _insert_group(self, senders: Sequence[NewSender]) -> list[Contact | None]:
        """``insert_new`` for a group of ``resolve_sender`` calls: each sender's new contact,
        or None where it must be resolved the long way (only the first sender of a key can
        have gone in)."""
        created = await self.insert_new(senders)
        return [created.pop(sender.key, None) for sender in senders]

    async def find(self, *, account_id: str, identity: CustomerIdentity) -> Contact | None:
        """The contact any of these identifiers names (the one by number when two do)."""
        async with self._tx.read() as tx:
            chosen = _choose(await _matching(tx, account_id, identity), identity)
            return None if chosen is None else to_record(Contact, chosen)

    async def upsert(
        self,
        *,
        account_id: str,
        identity: CustomerIdentity,
        new_key: str,
        first_name: str | None,
        last_name: str | None,
        email: str | None,
    ) -> tuple[Contact, bool]:
        """Create or replace a contact's merge-field data (keeps what webhooks told us)."""
        now = self._tx.now()
        fields = {"first_name": first_name, "last_name": last_name, "email": email}
        async with self._tx.write() as tx:
            if await tx.get(AccountRow, account_id) is None:
                raise AccountNotFound(account_id)
            chosen = _choose(await _matching(tx, account_id, identity), identity)
            if chosen is None:
                inserted = await tx.scalar(
                    insert(tx, ContactRow)
                    .values(**_new(account_id, new_key, identity, now), **fields)
                    .on_conflict_do_nothing()
                    .returning(ContactRow)
                )
                if inserted is not None:
                    return to_record(Contact, inserted), True
                chosen = _choose(await _matching(tx, account_id, identity), identity)
                assert chosen is not None  # the insert conflicted with it
            updated = await _update(tx, chosen, updated_at=now, **fields)
            return to_record(Contact, updated), False

    async def set_opted_out(
        self, *, account_id: str, conversation_key: str, opted_out: bool, at: datetime
    ) -> Contact | None:
        """Opt the contact out (or back in) as of ``at`` (docs/reaching.md#opt-out).

        ``at`` is the time of the keyword message, or of the API call: a change older than the
        one stored is ignored, so a STOP and a START redelivered out of order end as the customer
        meant. The contact as stored afterwards; None when there is no such contact.
        """
        async with self._tx.write() as tx:
            await tx.execute(
                update(ContactRow)
                .where(
                    ContactRow.account_id == account_id,
                    ContactRow.conversation_key == conversation_key,
                    or_(
                        ContactRow.opted_out_changed_at.is_(None),
                        ContactRow.opted_out_changed_at <= at,
                    ),
                )
                .values(opted_out=opted_out, opted_out_changed_at=at)
            )
            row = await tx.get(ContactRow, (account_id, conversation_key), populate_existing=True)
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


def _new(account_id: str, key: str, identity: CustomerIdentity, now: datetime) -> dict[str, Any]:
    """The columns of a new contact: its key and everything the identity says."""
    return {
        "account_id": account_id,
        "conversation_key": key,
        "wa_id": identity.wa_id,
        "user_id": identity.user_id,
        "parent_user_id": identity.parent_user_id,
        "username": identity.username,
        "created_at": now,
        "updated_at": now,
    }


async def _insert_new(
    tx: AsyncSession,
    account_id: str,
    key: str,
    identity: CustomerIdentity,
    profile_name: str | None,
    *,
    now: datetime,
) -> Contact | None:
    """Insert a new contact; None when one of its identifiers (or its key) is already taken.

    ON CONFLICT on any unique column; a row that went in is exactly what was written, so it is
    not read back.
    """
    row = _new(account_id, key, identity, now) | {"profile_name": profile_name}
    result = await tx.execute(insert(tx, ContactRow).values(**row).on_conflict_do_nothing())
    if getattr(result, "rowcount", 0) != 1:
        return None
    return Contact(**row, first_name=None, last_name=None, email=None)


async def _update(tx: AsyncSession, row: ContactRow, **values: Any) -> ContactRow:
    """Write ``values`` to the contact ``row`` and return it as stored."""
    updated: ContactRow | None = await tx.scalar(
        update(ContactRow)
        .where(
            ContactRow.account_id == row.account_id,
            ContactRow.conversation_key == row.conversation_key,
        )
        .values(**values)
        .returning(ContactRow)
    )
    assert updated is not None  # the row was read in this transaction
    return updated


async def _matching(
    tx: AsyncSession, account_id: str, identity: CustomerIdentity
) -> list[ContactRow]:
    """Every contact of the account that one of the identifiers names."""
    names: list[ColumnElement[bool]] = []
    if identity.wa_id is not None:
        names.append(ContactRow.wa_id == identity.wa_id)
    if identity.user_id is not None:
        names.append(ContactRow.user_id == identity.user_id)
    if identity.parent_user_id is not None:
        names.append(ContactRow.parent_user_id == identity.parent_user_id)
    rows = await tx.scalars(
        select(ContactRow).where(ContactRow.account_id == account_id, or_(*names))
    )
    return list(rows)


def _choose(found: list[ContactRow], identity: CustomerIdentity) -> ContactRow | None:
    """Which of the matching contacts the customer is.

    Normally one. Two only when a customer was first seen by number alone and separately by
    BSUID alone before any webhook named both: those are two conversations already, and the
    one by number (the older kind, the one stored data refers to) is kept.
    """
    for row in found:
        if identity.wa_id is not None and row.wa_id == identity.wa_id:
            return row
    for row in found:
        if identity.user_id is not None and row.user_id == identity.user_id:
            return row
    return found[0] if found else None


def _news(row: ContactRow, identity: CustomerIdentity, profile_name: str | None) -> bool:
    return bool(_additions(row, identity, profile_name, others=[row]))


def _additions(
    row: ContactRow,
    identity: CustomerIdentity,
    profile_name: str | None,
    *,
    others: list[ContactRow],
) -> dict[str, Any]:
    """What the webhook tells about the contact that it does not store yet.

    An identifier another contact of the account already holds is not copied (it is unique);
    the two conversations stay apart, and that is logged.
    """
    values: dict[str, Any] = {}
    for column in ("wa_id", "user_id", "parent_user_id"):
        given = getattr(identity, column)
        if given is None or getattr(row, column) is not None:
            continue
        if any(other is not row and getattr(other, column) == given for other in others):
            logger.warning(
                "contact %s: its %s belongs to another contact; conversations kept apart",
                row.conversation_key,
                column,
            )
            continue
        values[column] = given
    if identity.username is not None and identity.username != row.username:
        values["username"] = identity.username
    if profile_name is not None and profile_name != row.profile_name:
        values["profile_name"] = profile_name
    return values
