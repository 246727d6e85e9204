"""Meta's webhook signature: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``.

The HMAC is keyed with the app secret and computed over the exact bytes received, so the check
must run before the body is parsed. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "X-Hub-Signature-256"

_PREFIX = "sha256="
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def sign(app_secret: bytes, raw_body: bytes) -> str:
    """The header value Meta would send for ``raw_body`` (for tests and the simulate command)."""
    return _PREFIX + hmac.new(app_secret, raw_body, hashlib.sha256).hexdigest()


def verify_signature(*, app_secret: bytes, raw_body: bytes, header: str | None) -> bool:
    """True only if ``header`` is a well-formed ``sha256=<hex>`` matching ``raw_body``."""
    # An empty key would make the HMAC computable by anyone, so it never verifies.
    if not app_secret or header is None:
        return False
    value = header.strip()
    if not value.startswith(_PREFIX):
        return False
    received = value[len(_PREFIX) :]
    # Checked first because compare_digest refuses non-ASCII str, and a malformed header is
    # simply a failed check, never an exception.
    if _HEX_DIGEST.fullmatch(received) is None:
        return False
    expected = hmac.new(app_secret, raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), received.lower().encode("ascii"))
