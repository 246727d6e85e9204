"""Pseudonymous conversation keys: a keyed hash of (account, the customer's first identifier).

Temporal workflow ids, search attributes and log lines carry this key instead of the customer's
phone number or BSUID (docs/architecture.md#why-these-choices). A key is computed once, when a
customer first appears, from what named them then (the number if known, else the BSUID), and
is stored with the contact; a later webhook that names the same customer differently finds the
contact, and so the key, through any identifier they share (docs/sessions.md#who-the-customer-is).
Keys from numbers are the ones the service always computed, so data from before BSUIDs keeps
its workflow ids.
"""

from __future__ import annotations

import hashlib
import hmac

from core.identity import CustomerIdentity


def conversation_key(*, secret: str, account_id: str, wa_id: str) -> str:
    """A stable 20-hex-character key for one account × one customer number."""
    return _keyed(secret, f"{account_id}\x00{wa_id}")


def new_conversation_key(*, secret: str, account_id: str, identity: CustomerIdentity) -> str:
    """The key for a customer seen for the first time: from the number when known, else from
    the BSUID (in its own namespace, so a BSUID can never produce a number's key)."""
    if identity.wa_id is not None:
        return conversation_key(secret=secret, account_id=account_id, wa_id=identity.wa_id)
    return _keyed(secret, f"{account_id}\x00{identity.label}")


def _keyed(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()[:20]
