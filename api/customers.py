"""The customer an API path names, by number or BSUID, resolved to their conversation.

Every route that takes ``{wa_id}`` in its path accepts a BSUID there too
(docs/http-api.md#naming-a-customer). The stored contact, found through whichever identifier
the path gives, holds the conversation key; a customer with no contact yet gets the key they
would get on first contact, so a session started before the contact existed is still found.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.conversation_key import new_conversation_key
from core.identity import CustomerIdentity
from store.records import Contact
from store.repository import Store


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer named by an API request."""

    identity: CustomerIdentity
    contact: Contact | None
    conversation_key: str


async def find_customer(
    store: Store, *, secret: str, account_id: str, identity: CustomerIdentity
) -> Customer:
    """The customer ``identity`` names, with their stored contact if there is one."""
    contact = await store.contacts.find(account_id=account_id, identity=identity)
    if contact is not None:
        return Customer(identity, contact, contact.conversation_key)
    key = new_conversation_key(secret=secret, account_id=account_id, identity=identity)
    return Customer(identity, None, key)
