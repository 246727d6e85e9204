"""What the webhook path already knows, so a message to a known conversation costs no database
round trip (docs/operating.md#performance: ingest within 80 % of bare signal-with-start).

Per API process, bounded, with expiry:

- accounts by ``phone_number_id`` for ``ACCOUNT_TTL`` seconds. An unknown number is never
  remembered (an account created a moment later must not have its webhooks dropped), and a
  ``PUT /v1/accounts/…`` in this process forgets them all; other replicas follow within the TTL.
- contacts whose row exists with a given profile name, for ``CONTACT_TTL`` seconds: the
  contact write is skipped while nothing changed. The worst a stale entry can do is keep an
  older profile name a little longer.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from store.records import Account

ACCOUNT_TTL = 30.0
CONTACT_TTL = 600.0
MAX_CONTACTS = 100_000


class IngestCache:
    """Accounts and stored contacts the webhook path has seen recently."""

    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_contacts: int = MAX_CONTACTS,
    ) -> None:
        self._monotonic = monotonic
        self._max_contacts = max_contacts
        self._accounts: dict[str, tuple[Account, float]] = {}
        self._contacts: OrderedDict[tuple[str, str], tuple[str | None, float]] = OrderedDict()

    def account(self, phone_number_id: str) -> Account | None:
        """The cached account of a business number, if still fresh."""
        found = self._accounts.get(phone_number_id)
        if found is None or found[1] <= self._monotonic():
            return None
        return found[0]

    def remember_account(self, account: Account) -> None:
        self._accounts[account.phone_number_id] = (account, self._monotonic() + ACCOUNT_TTL)

    def forget_accounts(self) -> None:
        """An account changed in this process: look every number up again."""
        self._accounts.clear()

    def contact_stored(self, account_id: str, wa_id: str, profile_name: str | None) -> bool:
        """True when the contact is known to be stored with this profile name (or any, for
        a message without one)."""
        found = self._contacts.get((account_id, wa_id))
        if found is None or found[1] <= self._monotonic():
            return False
        return profile_name is None or found[0] == profile_name

    def remember_contact(self, account_id: str, wa_id: str, profile_name: str | None) -> None:
        key = (account_id, wa_id)
        if profile_name is None and key in self._contacts:
            profile_name = self._contacts[key][0]
        self._contacts[key] = (profile_name, self._monotonic() + CONTACT_TTL)
        self._contacts.move_to_end(key)
        while len(self._contacts) > self._max_contacts:
            self._contacts.popitem(last=False)
