"""Account API tokens: how one is made, recognised and hashed (docs/http-api.md#authentication).

A token is ``wst_`` followed by 32 random bytes (URL-safe base64). It is shown once, when it is
created; the store keeps only its SHA-256. A plain, unsalted hash is enough here: the token is
256 bits of randomness, so there is no dictionary to try and no brute force within reach, and a
fast hash keeps the check of every request to one indexed lookup. (Passwords, which people
choose, would need a slow salted hash; these are not passwords.)
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

TOKEN_PREFIX: Final = "wst_"
TOKEN_ID_PREFIX: Final = "tok_"
# What the API takes as a token id in a path; ids it gives out are ``tok_`` and 16 hex digits.
TOKEN_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
# A longer bearer value cannot be one of ours: it is refused without being hashed.
MAX_TOKEN_LENGTH: Final = 128


def new_token() -> str:
    """A fresh account token; the prefix makes it recognisable (in logs, by secret scanners)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_token_id() -> str:
    """The public name of a token, for listing and revoking it."""
    return TOKEN_ID_PREFIX + secrets.token_hex(8)


def looks_like_account_token(value: str) -> bool:
    """Whether ``value`` may be an account token (only those are looked up in the store)."""
    return value.startswith(TOKEN_PREFIX) and len(value) <= MAX_TOKEN_LENGTH


def token_hash(token: str) -> str:
    """What the store keeps of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()
