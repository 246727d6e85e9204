"""What ``Store`` hands out: frozen dataclasses, detached from any database session.

Also the vocabulary the schema enforces (reminder outcomes, delivery statuses) and the default
session settings of SPEC §1, so that the check constraints, the defaults returned for an account
without a settings row, and the callers all agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

DEFAULT_ENABLED: Final = False
DEFAULT_EXPIRY_HOURS: Final = 23
DEFAULT_MESSAGE: Final = (
    "Hi {contact_firstname}! Following up on our conversation. Still interested? Let me know! 😊"
)
MIN_EXPIRY_HOURS: Final = 1
MAX_EXPIRY_HOURS: Final = 23
MIN_MESSAGE_LENGTH: Final = 10
MAX_MESSAGE_LENGTH: Final = 1000

# Audit outcomes. ``pending`` (a worker holds the send) and ``retrying`` (the send certainly did
# not happen; a retry may claim it again) are the two in-flight states of the idempotency record.
OUTCOME_PENDING: Final = "pending"
OUTCOME_RETRYING: Final = "retrying"
OUTCOME_SENT: Final = "sent"
OUTCOME_SKIPPED_DISABLED: Final = "skipped_disabled"
OUTCOME_SKIPPED_WINDOW_CLOSED: Final = "skipped_window_closed"
OUTCOME_FAILED_WINDOW_CLOSED: Final = "failed_window_closed"
OUTCOME_FAILED: Final = "failed"
OUTCOME_UNKNOWN: Final = "unknown"

OUTCOMES: Final = (
    OUTCOME_PENDING,
    OUTCOME_RETRYING,
    OUTCOME_SENT,
    OUTCOME_SKIPPED_DISABLED,
    OUTCOME_SKIPPED_WINDOW_CLOSED,
    OUTCOME_FAILED_WINDOW_CLOSED,
    OUTCOME_FAILED,
    OUTCOME_UNKNOWN,
)
IN_FLIGHT_OUTCOMES: Final = frozenset({OUTCOME_PENDING, OUTCOME_RETRYING})
FINAL_OUTCOMES: Final = frozenset(OUTCOMES) - IN_FLIGHT_OUTCOMES

DELIVERY_SENT: Final = "sent"
DELIVERY_DELIVERED: Final = "delivered"
DELIVERY_READ: Final = "read"
DELIVERY_FAILED: Final = "failed"
DELIVERY_STATUSES: Final = (DELIVERY_SENT, DELIVERY_DELIVERED, DELIVERY_READ, DELIVERY_FAILED)

# Meta's "more than 24 hours since the customer last replied" (SPEC §4).
WINDOW_CLOSED_ERROR_CODE: Final = 131047


@dataclass(frozen=True, slots=True)
class Account:
    """A WhatsApp Business phone number and the credentials to send from it."""

    account_id: str
    company_name: str
    phone_number_id: str
    # Kept out of repr so that logging a record never leaks the bearer token.
    access_token: str = field(repr=False)
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SessionSettingsRecord:
    """An account's reminder settings; ``updated_at`` is None while they are the defaults."""

    enabled: bool
    expiry_hours: int
    message: str
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """One saved version of an account's settings (the history, newest first when listed)."""

    id: int
    account_id: str
    changed_at: datetime
    enabled: bool
    expiry_hours: int
    message: str
    changed_by: str


@dataclass(frozen=True, slots=True)
class Contact:
    """Merge-field data for one customer of one account."""

    account_id: str
    wa_id: str
    conversation_key: str
    profile_name: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ReminderRecord:
    """One reminder decision of the audit trail (and, when it claims a send, its idempotency
    record).

    ``decided_at`` is when the current ``outcome`` was decided; for an in-flight record it is the
    time of the latest claim or release.
    """

    reminder_id: str
    account_id: str
    conversation_key: str
    wa_id: str
    last_customer_message_at: datetime
    outcome: str
    idempotency_key: str | None
    reason: str | None
    error_code: int | None
    message_id: str | None
    delivery_status: str | None
    delivery_updated_at: datetime | None
    text: str | None
    attempts: int
    decided_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReminderContext:
    """Everything the reminder activity reads at fire time, read in one transaction."""

    account: Account | None
    contact: Contact | None
    settings: SessionSettingsRecord | None


@dataclass(frozen=True, slots=True)
class ReminderClaim:
    """Result of ``Store.claim_reminder``: the idempotency record, and whether this caller may
    send."""

    record: ReminderRecord
    acquired: bool


@dataclass(frozen=True, slots=True)
class ReminderPage:
    """One page of the audit trail, newest first; ``next_cursor`` is None on the last page."""

    items: list[ReminderRecord]
    next_cursor: str | None
