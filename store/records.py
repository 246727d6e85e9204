"""What the store hands out: frozen dataclasses, detached from any database transaction.

Their field names are the ORM columns' (``store.transactions.to_record`` relies on it); the
words they hold (outcomes, delivery statuses) are ``core.vocabulary``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from core.merge_fields import MergeValues, merge_values
from core.prices import MessagePrices
from core.reach import FallbackTemplate, QuietHours
from core.vocabulary import DeliveryStatus, ReminderOutcome, SendKind


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
    """An account's reminder settings; ``updated_at`` is None while they are the defaults.

    ``version`` counts the saves (0: never saved); ``delivered_version`` is the newest version
    every running session was told about. The rest is docs/reaching.md's: quiet hours and the
    time zone used when a contact's number gives none, the keyword lists, the template.
    ``message_prices`` is docs/analytics.md#cost's (None: no cost estimate).
    """

    enabled: bool
    expiry_hours: int
    message: str
    updated_at: datetime | None
    version: int
    delivered_version: int
    quiet_hours: QuietHours | None
    timezone: str
    opt_out_keywords: tuple[str, ...]
    opt_in_keywords: tuple[str, ...]
    fallback_template: FallbackTemplate | None
    message_prices: MessagePrices | None = None

    def __post_init__(self) -> None:
        # The JSON columns hold plain dicts and lists; the record speaks core.reach's models.
        if isinstance(self.quiet_hours, dict):
            object.__setattr__(self, "quiet_hours", QuietHours.model_validate(self.quiet_hours))
        if isinstance(self.fallback_template, dict):
            object.__setattr__(
                self, "fallback_template", FallbackTemplate.model_validate(self.fallback_template)
            )
        if isinstance(self.message_prices, dict):
            object.__setattr__(
                self, "message_prices", MessagePrices.model_validate(self.message_prices)
            )
        object.__setattr__(self, "opt_out_keywords", tuple(self.opt_out_keywords))
        object.__setattr__(self, "opt_in_keywords", tuple(self.opt_in_keywords))


@dataclass(frozen=True, slots=True)
class Contact:
    """One customer of one account: how Meta names them, and their merge-field data.

    Any of ``wa_id`` (the number), ``user_id`` (the BSUID) and ``parent_user_id`` may be None,
    never all three.
    """

    account_id: str
    conversation_key: str
    wa_id: str | None
    user_id: str | None
    parent_user_id: str | None
    username: str | None
    profile_name: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    created_at: datetime
    updated_at: datetime
    opted_out: bool = False
    opted_out_changed_at: datetime | None = None

    @property
    def recipient(self) -> str | None:
        """The BSUID a message goes to when there is no number (the parent one if that is all)."""
        return self.user_id or self.parent_user_id

    def merge_values(self, company_name: str) -> MergeValues:
        """This contact's merge-field values (``core.merge_fields.merge_values``); raises
        ``ValueError`` for a stored number that is not E.164."""
        return merge_values(
            first_name=self.first_name,
            last_name=self.last_name,
            email=self.email,
            profile_name=self.profile_name,
            wa_id=self.wa_id,
            company_name=company_name,
        )


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
    wa_id: str | None
    user_id: str | None
    last_customer_message_at: datetime
    outcome: ReminderOutcome
    idempotency_key: str | None
    reason: str | None
    error_code: int | None
    message_id: str | None
    delivery_status: DeliveryStatus | None
    delivery_updated_at: datetime | None
    text: str | None
    attempts: int
    decided_at: datetime
    created_at: datetime
    kind: SendKind = SendKind.REMINDER
    nominal_due_at: datetime | None = None
    send_at: datetime | None = None
    replied_at: datetime | None = None
    reply_seconds: int | None = None

    def __post_init__(self) -> None:
        # The columns hold plain strings; the record speaks the vocabulary's enums.
        object.__setattr__(self, "outcome", ReminderOutcome(self.outcome))
        object.__setattr__(self, "kind", SendKind(self.kind))
        if self.delivery_status is not None:
            object.__setattr__(self, "delivery_status", DeliveryStatus(self.delivery_status))


@dataclass(frozen=True, slots=True)
class ReminderContext:
    """Everything the reminder activity reads at fire time, read in one transaction."""

    account: Account | None
    contact: Contact | None
    settings: SessionSettingsRecord | None


@dataclass(frozen=True, slots=True)
class Composed:
    """What a send will say, as the send activity composed it from a ``ReminderContext``: the
    text kept in the audit, when it was due, and when it goes out (docs/reaching.md)."""

    text: str
    nominal_due_at: datetime | None = None
    send_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReminderClaim:
    """Result of ``Reminders.claim``: the idempotency record, and whether this caller may send."""

    record: ReminderRecord
    acquired: bool


@dataclass(frozen=True, slots=True)
class ReminderPage:
    """One page of the audit trail, newest first; ``next_cursor`` is None on the last page."""

    items: list[ReminderRecord]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An account-scoped API token as listed: never the token, nor its hash."""

    token_id: str
    account_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class SendCounts:
    """What an account's sends came to, over a day or a range (docs/analytics.md): reminders
    sent, of those delivered, read and replied; failed reminders; templates sent."""

    reminders_sent: int = 0
    delivered: int = 0
    read: int = 0
    replied: int = 0
    failed: int = 0
    templates_sent: int = 0

    def __add__(self, other: SendCounts) -> SendCounts:
        return SendCounts(
            reminders_sent=self.reminders_sent + other.reminders_sent,
            delivered=self.delivered + other.delivered,
            read=self.read + other.read,
            replied=self.replied + other.replied,
            failed=self.failed + other.failed,
            templates_sent=self.templates_sent + other.templates_sent,
        )


@dataclass(frozen=True, slots=True)
class AccountAnalytics:
    """An account's sends over a range of UTC days, as ``Analytics.report`` counted them.

    ``days`` holds every day of the range, oldest first, zeros included. ``delivered_by_recipient``
    counts the delivered reminders and templates by kind and the first three digits of the
    recipient's number (None: known by BSUID only); it is filled only when the account has
    ``message_prices``, the one thing that needs it.
    """

    first: date
    last: date
    totals: SendCounts
    days: list[tuple[date, SendCounts]]
    median_reply_seconds: float | None
    message_prices: MessagePrices | None
    delivered_by_recipient: dict[tuple[SendKind, str | None], int]
