"""Pseudonymous conversation keys: a keyed hash of (account, customer number).

Temporal workflow ids, search attributes and log lines carry this key instead of the customer's
phone number (docs/architecture.md#why-these-choices); the API recomputes it from the number
to find a session.
"""

from __future__ import annotations

import hashlib
import hmac


def conversation_key(*, secret: str, account_id: str, wa_id: str) -> str:
    """A stable 20-hex-character key for one account × one customer number."""
    digest = hmac.new(
        secret.encode(), f"{account_id}\x00{wa_id}".encode(), hashlib.sha256
    ).hexdigest()
    return digest[:20]
