"""What the webhook path already knows, so a message to a known conversation costs no database
round trip (docs/operating.md#performance: ingest within 80 % of bare signal-with-start).

Per API process, bounded, with expiry:

- accounts by ``phone_number_id`` for ``ACCOUNT_TTL`` seconds. An unknown number is never
  remembered (an account created a moment later must not have its webhooks dropped), and a
  ``PUT /v1/accounts/…`` in this process forgets them all; other replicas follow within the TTL.
- contacts by any identifier they are known by (number, BSUID), with their conversation key,
  for ``CONTACT_TTL`` seconds: the contact read (and write) is skipped while a webhook brings
  nothing the contact does not already have. The worst a stale entry can do is keep an older
  profile name or username a little longer.
- an account's opt-out and opt-in keywords for ``KEYWORDS_TTL`` seconds, read only when a POST
  holds a short text for the account. Short, because API processes do not hear of each other's
  settings saves: a new keyword list works on every replica within a few seconds, while a
  busy account's keywords still cost one settings read per few seconds, not one per POST.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.identity import CustomerIdentity
from core.reach import keyword_form
from store.records import Account, Contact

ACCOUNT_TTL = 30.0
CONTACT_TTL = 600.0
KEYWORDS_TTL = 5.0
MAX_CONTACTS = 100_000


@dataclass(frozen=True, slots=True)
class Keywords:
    """An account's opt-out and opt-in keywords, in ``core.reach.keyword_form``."""

    opt_out: frozenset[str]
    opt_in: frozenset[str]

    @classmethod
    def of(cls, opt_out: Iterable[str], opt_in: Iterable[str]) -> Keywords:
        return cls(
            opt_out=frozenset(keyword_form(k) for k in opt_out),
            opt_in=frozenset(keyword_form(k) for k in opt_in),
        )

    def opts_out(self, text: str) -> bool | None:
        """True when ``text`` is an opt-out keyword, False when an opt-in one, else None.

        A word on both lists opts out: when in doubt, the customer is left alone.
        """
        form = keyword_form(text)
        if form in self.opt_out:
            return True
        if form in self.opt_in:
            return False
        return None


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
        # Bounded by the number of accounts, like the accounts above.
        self._keywords: dict[str, tuple[Keywords, float]] = {}
        self._contacts: OrderedDict[tuple[str, str], tuple[Contact, float]] = OrderedDict()

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

    def keywords(self, account_id: str) -> Keywords | None:
        """The account's cached keywords, if still fresh."""
        found = self._keywords.get(account_id)
        if found is None or found[1] <= self._monotonic():
            return None
        return found[0]

    def remember_keywords(self, account_id: str, keywords: Keywords) -> None:
        self._keywords[account_id] = (keywords, self._monotonic() + KEYWORDS_TTL)

    def forget_keywords(self, account_id: str) -> None:
        """The account's settings were saved in this process: read its keywords again."""
        self._keywords.pop(account_id, None)

    def conversation_key(
        self, account_id: str, identity: CustomerIdentity, profile_name: str | None
    ) -> str | None:
        """The key of a contact known to hold everything ``identity`` and ``profile_name``
        say; None when the store must be asked."""
        found = self._contacts.get((account_id, identity.label))
        if found is None or found[1] <= self._monotonic():
            return None
        contact = found[0]
        news = (
            (identity.wa_id is not None and identity.wa_id != contact.wa_id)
            or (identity.user_id is not None and identity.user_id != contact.user_id)
            or (
                identity.parent_user_id is not None
                and identity.parent_user_id != contact.parent_user_id
            )
            or (identity.username is not None and identity.username != contact.username)
            or (profile_name is not None and profile_name != contact.profile_name)
        )
        return None if news else contact.conversation_key

    def knows(self, account_id: str, identity: CustomerIdentity) -> bool:
        """Whether a stored contact was seen under one of these identifiers (even if its entry
        has expired since): such a customer is not new."""
        return any((account_id, label) in self._contacts for label in identity.labels)

    def remember_contact(self, contact: Contact) -> None:
        """The contact as stored, under every identifier it is known by."""
        expires = self._monotonic() + CONTACT_TTL
        for label in _labels(contact):
            key = (contact.account_id, label)
            self._contacts[key] = (contact, expires)
            self._contacts.move_to_end(key)
        while len(self._contacts) > self._max_contacts:
            self._contacts.popitem(last=False)


def _labels(contact: Contact) -> tuple[str, ...]:
    """The labels of every identity a webhook may name this contact by."""
    return CustomerIdentity(
        wa_id=contact.wa_id, user_id=contact.user_id, parent_user_id=contact.parent_user_id
    ).labels
