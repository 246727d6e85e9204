"""The domain's words, each spelled once: states, outcomes, delivery statuses, limits, id patterns.

Everything that names or bounds something of the product imports it from here: the workflow,
the activities, the store's check constraints, the API's validation, the pages and the CLI.
``docs/glossary.md`` says what each word means. Pure and deterministic: safe in workflow code.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

# -- sessions ---------------------------------------------------------------------------------


class SessionState(StrEnum):
    """Where a session stands; also the ``SessionState`` search attribute (docs/sessions.md)."""

    WAITING = "waiting"  # a reminder is armed for the current silence
    REMINDED = "reminded"  # this silence got its decision; waiting for the customer
    PAUSED = "paused"  # reminders are disabled; waiting for settings or the customer
    EXPIRED = "expired"  # the 24-hour window closed; the run completes


# -- reminder outcomes ------------------------------------------------------------------------


class ReminderOutcome(StrEnum):
    """What became of the reminder of one silence (docs/sending.md#outcomes).

    Three kinds share the enum so that no part of the service spells an outcome by hand:

    - *decisions*, the outcomes of the audit trail: ``sent``, ``skipped_*``, ``failed*``,
      ``unknown``;
    - *in flight*, held by the idempotency record while a send is under way: ``pending`` (a
      worker holds the send), ``retrying`` (it certainly did not happen; a retry may claim it),
      ``ambiguous`` (it may have reached Meta; waiting for a status webhook as proof);
    - ``not_due``, the send activity's answer when the settings moved the due time later: no
      record is written and the workflow arms its timer again.
    """

    SENT = "sent"
    SKIPPED_DISABLED = "skipped_disabled"
    SKIPPED_WINDOW_CLOSED = "skipped_window_closed"
    # The customer wrote while the send for the earlier silence was waiting to be retried.
    SKIPPED_CUSTOMER_REPLIED = "skipped_customer_replied"
    FAILED_WINDOW_CLOSED = "failed_window_closed"  # Meta answered 131047
    FAILED = "failed"  # permanent error from Meta, or no contact to send to
    UNKNOWN = "unknown"  # may have reached Meta, and no proof came before the window closed
    # Quiet hours left no moment inside the window (docs/reaching.md#quiet-hours).
    SKIPPED_QUIET_HOURS = "skipped_quiet_hours"
    SKIPPED_OPTED_OUT = "skipped_opted_out"  # the contact opted out (docs/reaching.md#opt-out)
    PENDING = "pending"
    RETRYING = "retrying"
    AMBIGUOUS = "ambiguous"
    NOT_DUE = "not_due"


IN_FLIGHT_OUTCOMES: Final = frozenset(
    {ReminderOutcome.PENDING, ReminderOutcome.RETRYING, ReminderOutcome.AMBIGUOUS}
)
# What the ``reminders.outcome`` column may hold, in the order of the schema's check constraint.
STORED_OUTCOMES: Final = (
    ReminderOutcome.PENDING,
    ReminderOutcome.RETRYING,
    ReminderOutcome.SENT,
    ReminderOutcome.SKIPPED_DISABLED,
    ReminderOutcome.SKIPPED_WINDOW_CLOSED,
    ReminderOutcome.FAILED_WINDOW_CLOSED,
    ReminderOutcome.FAILED,
    ReminderOutcome.UNKNOWN,
    ReminderOutcome.AMBIGUOUS,
    ReminderOutcome.SKIPPED_CUSTOMER_REPLIED,
    ReminderOutcome.SKIPPED_QUIET_HOURS,
    ReminderOutcome.SKIPPED_OPTED_OUT,
)
DECISIONS: Final = frozenset(STORED_OUTCOMES) - IN_FLIGHT_OUTCOMES


class SendKind(StrEnum):
    """What a record of the audit trail is about (docs/reaching.md#template-fallback)."""

    REMINDER = "reminder"  # the free-form reminder inside the window
    TEMPLATE = "template"  # the approved template sent when the window closed unanswered


# -- delivery statuses ------------------------------------------------------------------------


class DeliveryStatus(StrEnum):
    """Meta's status webhooks for a message we sent, as far as a reminder tracks them."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


# -- Meta error codes the domain rules name ---------------------------------------------------

# "More than 24 hours have passed since the customer last replied"
# (docs/sending.md#error-classification).
WINDOW_CLOSED_ERROR_CODE: Final = 131047


# -- settings limits and defaults (docs/sessions.md#settings) ---------------------------------

MIN_EXPIRY_HOURS: Final = 1
MAX_EXPIRY_HOURS: Final = 23  # 24 or more would fall outside the window
MIN_MESSAGE_LENGTH: Final = 10
MAX_MESSAGE_LENGTH: Final = 1000

DEFAULT_ENABLED: Final = False
DEFAULT_EXPIRY_HOURS: Final = 23
DEFAULT_MESSAGE: Final = (
    "Hi {contact_firstname}! Following up on our conversation. Still interested? Let me know! 😊"
)


# -- identifiers ------------------------------------------------------------------------------
# Anchored patterns for FastAPI/pydantic ``pattern=``; compiled twins for ``fullmatch``.

ACCOUNT_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
ACCOUNT_ID_RULE: Final = "1-64 characters of A-Z, a-z, 0-9, '_' or '-'"
# Meta's id of a business phone number; same alphabet, so it fits a URL path segment as is.
PHONE_NUMBER_ID_PATTERN: Final = ACCOUNT_ID_PATTERN
# A WhatsApp id: the customer's number in international form, E.164 digits without '+'. ASCII
# digits only (``\d`` would accept other scripts' digits); E.164 never starts with 0.
WA_ID_PATTERN: Final = r"^[1-9][0-9]{6,14}$"
WA_ID_RULE: Final = "7-15 digits, no '+'"
# The same number as people write it, with or without the '+'.
PHONE_PATTERN: Final = r"^\+?[1-9][0-9]{6,14}$"

# A business-scoped user id (BSUID) of a customer who may hide their number behind a username:
# a two-letter country code, a dot, and up to 128 letters and digits ("US.13491208655302741918");
# a parent BSUID, shared by a group of business portfolios, has "ENT." after the country.
BSUID_MAX_LENGTH: Final = 160
BSUID_PATTERN: Final = r"^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$"
BSUID_RULE: Final = "a BSUID such as US.13491208655302741918"
# Where the management API names a customer: their number, or their BSUID.
CUSTOMER_ID_PATTERN: Final = r"^([1-9][0-9]{6,14}|[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128})$"
CUSTOMER_ID_RULE: Final = f"{WA_ID_RULE}, or {BSUID_RULE}"


# -- webhook field bounds (docs/http-api.md#webhook) ------------------------------------------
# What one item of Meta's webhook may carry. An item outside them is skipped as invalid, so no
# value reaches Temporal or the database that they cannot hold (NUL, unpaired surrogates,
# more than a column's length); Meta's own values sit well inside every bound.

# A customer's number as Meta sends it (``from``, ``wa_id``): ASCII digits, no '+'.
WEBHOOK_PHONE_PATTERN: Final = r"^[0-9]{1,20}$"
# Meta's message ids ("wamid.HBgL…", about 60 characters) and our callback data, as Meta
# echoes them in statuses (Meta caps ``biz_opaque_callback_data`` at 512).
MAX_WEBHOOK_MESSAGE_ID_LENGTH: Final = 256
MAX_WEBHOOK_CALLBACK_DATA_LENGTH: Final = 512
# The WhatsApp profile name (what the customer calls themself; WhatsApp allows 25 characters).
MAX_PROFILE_NAME_LENGTH: Final = 256
# A user's username: Meta's rules are 3-35 letters, digits, '.' or '_'; webhooks may add an '@'.
USERNAME_PATTERN: Final = r"^@?[A-Za-z0-9._]{3,35}$"
# Message types ("text", "interactive", …), status values and the like: short words.
MAX_WEBHOOK_WORD_LENGTH: Final = 64
# Free text Meta writes: error titles, messages and details.
MAX_WEBHOOK_TEXT_LENGTH: Final = 4096

ACCOUNT_ID_RE: Final = re.compile(ACCOUNT_ID_PATTERN)
WA_ID_RE: Final = re.compile(WA_ID_PATTERN)
BSUID_RE: Final = re.compile(BSUID_PATTERN)
