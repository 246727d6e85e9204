"""Redaction of request targets for log lines: no customer number or BSUID in a logged path.

Paths such as ``/v1/accounts/acme/contacts/16505551234`` and queries such as
``?wa_id=US.13491208655302741918`` name customers. :func:`redact_target` replaces, in every
path segment (but the account id) and every query name and value, each token that looks like a
customer id with ``customer:<8 hex>``: a BSUID-shaped token, or a run of at least seven digits
in any spelling ("+1 (650) 555-1234"). It looks for tokens inside values, not only at whole
values, because a malformed request ("+1555… US.1349…") is exactly the one that gets logged.
Query values of parameters named like a token, secret or password become ``***``.
:func:`withheld` renders a foreign exception for a log line without its message.

Why a keyed hash rather than ``…1234``: the last four digits are part of a number and still
personal data, while the marker is the start of the conversation key (``core.conversation_key``)
of that id in the path's account, which the Temporal Web UI already shows (workflow id
``conversation:<account>:<key>``, summary "customer <8 hex>"). An operator can go from a log
line to the session (``WorkflowId STARTS_WITH "conversation:acme:05070de9"``) without anyone
seeing the number. The key equals the session's when the customer was first seen by that
identifier (docs/sessions.md#who-the-customer-is); otherwise it still names the customer
consistently across log lines. Over-redaction (a long number that is no customer) is accepted.

Pure: standard library and ``core`` only.
"""

from __future__ import annotations

import re
import traceback
from urllib.parse import unquote, unquote_plus

from core.conversation_key import new_conversation_key
from core.identity import CustomerIdentity

_BSUID_TOKEN = r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]+"
_NUMBER_TOKEN = r"\+?[0-9](?:[\s\-()]*[0-9]){6,}"
_CUSTOMER_TOKEN = re.compile(f"{_BSUID_TOKEN}|{_NUMBER_TOKEN}")
_BSUID = re.compile(_BSUID_TOKEN)
_NOT_DIGIT = re.compile(r"[^0-9]")
_SECRET_PARAMETER = re.compile(r"token|secret|password", re.IGNORECASE)
MARKER_PREFIX = "customer:"
MASK = "***"


def names_customer(text: str) -> bool:
    """Whether ``text`` contains something spelled like a customer's number or BSUID."""
    return _CUSTOMER_TOKEN.search(text) is not None


def redact_text(text: str, *, secret: str, account_id: str = "") -> str:
    """``text`` with each customer-looking token replaced by ``customer:<8 hex>``."""

    def marker(match: re.Match[str]) -> str:
        token = match.group(0)
        if _BSUID.fullmatch(token):
            identity = CustomerIdentity(user_id=token)
        else:
            identity = CustomerIdentity(wa_id=_NOT_DIGIT.sub("", token))
        key = new_conversation_key(secret=secret, account_id=account_id, identity=identity)
        return MARKER_PREFIX + key[:8]

    return _CUSTOMER_TOKEN.sub(marker, text)


def account_of(path: str) -> str:
    """The account a ``/v1/accounts/{account_id}/…`` path is about; ``""`` for other paths."""
    segments = path.split("/")
    for index, segment in enumerate(segments[:-1]):
        if segment == "accounts":
            return segments[index + 1]
    return ""


def redact_path(path: str, *, secret: str) -> str:
    """``path`` with every segment that names a customer redacted; the account id is kept
    (it is the business, and an all-digit account id is not a customer)."""
    account_id = account_of(path)
    segments = path.split("/")
    redacted = []
    for index, segment in enumerate(segments):
        # Decoded for the check: a raw path may spell "+" as "%2B" and a space as "%20".
        decoded = unquote(segment)
        if (index > 0 and segments[index - 1] == "accounts") or not names_customer(decoded):
            redacted.append(segment)
        else:
            redacted.append(redact_text(decoded, secret=secret, account_id=account_id))
    return "/".join(redacted)


def redact_query(query: str, *, secret: str, account_id: str = "") -> str:
    """A raw query string with customer ids and secrets replaced; other pairs kept as sent."""
    if not query:
        return query
    pairs = []
    for pair in query.split("&"):
        raw_name, has_value, raw_value = pair.partition("=")
        name, value = unquote_plus(raw_name), unquote_plus(raw_value)
        if _SECRET_PARAMETER.search(name) and has_value:
            pairs.append(f"{raw_name}={MASK}")
        elif names_customer(name) or names_customer(value):
            redacted = redact_text(name, secret=secret, account_id=account_id)
            if has_value:
                redacted += "=" + redact_text(value, secret=secret, account_id=account_id)
            pairs.append(redacted)
        else:
            pairs.append(pair)
    return "&".join(pairs)


def redact_target(path: str, query: str, *, secret: str) -> str:
    """``path?query`` as a log line may show it."""
    redacted = redact_path(path, secret=secret)
    if query:
        redacted += "?" + redact_query(query, secret=secret, account_id=account_of(path))
    return redacted


def withheld(err: BaseException) -> str:
    """``err`` for a log line: its class and stack frames, never its message (nor its causes').

    A foreign exception's message can quote what it was working on (a driver's "Key (wa_id)=…
    already exists", a validation error's input): its class and where it was raised are enough
    to find the bug, and nothing personal reaches the log.
    """
    frames = "".join(traceback.format_tb(err.__traceback__)).rstrip()
    return f"{type(err).__name__} (message withheld)\n{frames}" if frames else type(err).__name__
