"""Request and response models of the management API (docs/http-api.md; extra fields are extras).

Validation that pydantic can express lives here, so FastAPI answers 422 with its usual
``{"detail": [{"loc", "msg", "type"}, …]}``. Rules it cannot express alone (a message required
only when enabled, a token required only on create) are checked by the routes, which raise the
same shape through ``validation_error``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal, TypedDict

from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from core.identity import CustomerIdentity
from core.merge_fields import MERGE_FIELDS, UnknownMergeField, validate_template
from core.prices import MessagePrices, Money
from core.quiet_hours import known_timezones
from core.reach import (
    DEFAULT_OPT_IN_KEYWORDS,
    DEFAULT_OPT_OUT_KEYWORDS,
    DEFAULT_TIMEZONE,
    MAX_TEMPLATE_PARAMETER_LENGTH,
    MAX_TEMPLATE_PARAMETERS,
    FallbackTemplate,
    Keywords,
    QuietHours,
    keyword_form,
)
from core.storable import STORABLE, STORABLE_OR_NONE, storable
from core.vocabulary import (
    CUSTOMER_ID_PATTERN,
    CUSTOMER_ID_RULE,
    DECISIONS,
    MAX_EXPIRY_HOURS,
    MAX_MESSAGE_LENGTH,
    MIN_EXPIRY_HOURS,
    MIN_MESSAGE_LENGTH,
    PHONE_NUMBER_ID_PATTERN,
    PHONE_PATTERN,
    DeliveryStatus,
    SendKind,
    SessionState,
)
from store.records import Account, ApiToken, Contact, ReminderRecord, SessionSettingsRecord

# Loose on purpose: one '@', no spaces, a dot in the domain. Deliverability is not our call.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def validation_error(loc: tuple[str | int, ...], msg: str, type_: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape, for rules checked outside the request models."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": type_}])


def _known_merge_fields(template: str) -> str:
    try:
        validate_template(template)
    except UnknownMergeField as err:
        raise PydanticCustomError("merge_field", str(err)) from None
    return template


def _storable_secret(value: SecretStr | None) -> SecretStr | None:
    if value is not None:
        storable(value.get_secret_value())
    return value


def _loose_email(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _EMAIL.fullmatch(value):
        raise PydanticCustomError("email", "not an email address (expected name@domain.tld)")
    return value


Template = Annotated[
    str,
    Field(
        min_length=MIN_MESSAGE_LENGTH,
        max_length=MAX_MESSAGE_LENGTH,
        description=f"{MIN_MESSAGE_LENGTH}-{MAX_MESSAGE_LENGTH} characters; merge fields: "
        + ", ".join(f"{{{name}}}" for name in MERGE_FIELDS),
    ),
    STORABLE,
    AfterValidator(_known_merge_fields),
]
Name = Annotated[str | None, Field(default=None, max_length=200), STORABLE_OR_NONE]
Email = Annotated[
    str | None,
    Field(default=None, max_length=254),
    STORABLE_OR_NONE,
    AfterValidator(_loose_email),
]


class _Body(BaseModel):
    # Unknown fields are refused so that a typo ("expiry_hour") is a 422, not a silent no-op.
    model_config = ConfigDict(extra="forbid")


# -- accounts ---------------------------------------------------------------------------------


class AccountIn(_Body):
    company_name: Annotated[str, Field(min_length=1, max_length=200), STORABLE]
    phone_number_id: str = Field(
        pattern=PHONE_NUMBER_ID_PATTERN, description="Meta's id of the business phone number"
    )
    access_token: Annotated[SecretStr | None, AfterValidator(_storable_secret)] = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="write-only; required on create, kept when omitted on update",
    )


class AccountOut(BaseModel):
    account_id: str
    company_name: str
    phone_number_id: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(
            account_id=account.account_id,
            company_name=account.company_name,
            phone_number_id=account.phone_number_id,
            created_at=account.created_at,
            updated_at=account.updated_at,
        )


# -- account tokens ---------------------------------------------------------------------------


class TokenIn(_Body):
    label: Annotated[str | None, STORABLE_OR_NONE] = Field(
        default=None, max_length=100, description="what the token is for, e.g. 'shop backend'"
    )


class TokenOut(BaseModel):
    """A token as listed: never the token itself, nor its hash."""

    token_id: str
    account_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            token_id=token.token_id,
            account_id=token.account_id,
            label=token.label,
            created_at=token.created_at,
            revoked_at=token.revoked_at,
        )


class TokenCreated(TokenOut):
    token: str = Field(description="the bearer token; shown in this answer only, stored hashed")


class TokenList(BaseModel):
    items: list[TokenOut]


# -- contacts ---------------------------------------------------------------------------------


class ContactIn(_Body):
    first_name: Name = None
    last_name: Name = None
    email: Email = None
    # Strict: "yes", 1 or "true" are a 422, not a guess at what the caller meant.
    opted_out: bool | None = Field(
        default=None,
        strict=True,
        description="true: no reminder and no template reaches the customer; false: they may "
        "again; omitted (or null): unchanged",
    )


# -- customers ---------------------------------------------------------------------------------

_WA_ID = Field(description="the customer's number; null when Meta has not told it (username)")
_USER_ID = Field(description="the customer's business-scoped user id (BSUID), when known")
_USERNAME = Field(description="the customer's WhatsApp username, when they have one")


class CustomerNames(TypedDict):
    """How a response names its customer: any of the three may be null."""

    wa_id: str | None
    user_id: str | None
    username: str | None


def customer_names(
    contact: Contact | None, identity: CustomerIdentity | None = None
) -> CustomerNames:
    """The stored contact's names, else what the request itself named (or nulls)."""
    if contact is not None:
        return CustomerNames(
            wa_id=contact.wa_id,
            user_id=contact.recipient,
            username=contact.username,
        )
    if identity is not None:
        return CustomerNames(
            wa_id=identity.wa_id,
            user_id=identity.user_id or identity.parent_user_id,
            username=identity.username,
        )
    return CustomerNames(wa_id=None, user_id=None, username=None)


class ContactOut(BaseModel):
    account_id: str
    wa_id: str | None = _WA_ID
    user_id: str | None = _USER_ID
    username: str | None = _USERNAME
    first_name: str | None
    last_name: str | None
    email: str | None
    profile_name: str | None = Field(description="the WhatsApp profile name, from webhooks")
    opted_out: bool = Field(
        description="the customer opted out (a keyword message, or the API): nothing is sent"
    )
    opted_out_changed_at: datetime | None = Field(
        description="when opted_out last changed: the keyword message's time, or the API call's; "
        "null while it never did"
    )

    @classmethod
    def of(cls, contact: Contact) -> ContactOut:
        return cls(
            account_id=contact.account_id,
            **customer_names(contact),
            first_name=contact.first_name,
            last_name=contact.last_name,
            email=contact.email,
            profile_name=contact.profile_name,
            opted_out=contact.opted_out,
            opted_out_changed_at=contact.opted_out_changed_at,
        )


# -- session settings -------------------------------------------------------------------------


TIMEZONE_RULE = "an IANA time zone name such as Europe/Berlin or America/Sao_Paulo"


def _known_timezone(value: str) -> str:
    # The zones this machine can compute with (tzdata), so a saved zone is always usable.
    if value not in known_timezones():
        raise PydanticCustomError("timezone", f"not {TIMEZONE_RULE}")
    return value


TimeZoneName = Annotated[str, Field(description=TIMEZONE_RULE), AfterValidator(_known_timezone)]


class SessionSettingsIn(_Body):
    """The whole settings document: a field left out takes its default (docs/http-api.md), so
    a client that knows only the first three fields keeps working."""

    enabled: bool = Field(strict=True, description="master switch of the reminders")
    expiry_hours: int = Field(
        strict=True,
        ge=MIN_EXPIRY_HOURS,
        le=MAX_EXPIRY_HOURS,
        description=f"hours of customer silence before the reminder "
        f"({MIN_EXPIRY_HOURS}-{MAX_EXPIRY_HOURS})",
    )
    message: Template | None = Field(
        default=None, description="required when enabled; omitted keeps the saved message"
    )
    quiet_hours: QuietHours | None = Field(
        default=None,
        description="a daily period in the contact's local time in which nothing is sent; "
        "null: none",
    )
    timezone: TimeZoneName = Field(
        default=DEFAULT_TIMEZONE,
        description="the zone of quiet hours for contacts whose number does not give exactly "
        "one zone",
    )
    opt_out_keywords: Keywords = Field(
        default=list(DEFAULT_OPT_OUT_KEYWORDS),
        description="a customer's message equal to one of these stops their reminders",
    )
    opt_in_keywords: Keywords = Field(
        default=list(DEFAULT_OPT_IN_KEYWORDS),
        description="a customer's message equal to one of these resumes them",
    )
    fallback_template: FallbackTemplate | None = Field(
        default=None,
        description="the approved template sent when the window closes unanswered; Meta bills "
        "each one, so null (none) by default",
    )
    message_prices: MessagePrices | None = Field(
        default=None,
        description="what Meta charges per delivered message, for the analytics' cost "
        "estimate: amounts as decimal strings, one currency; null: no estimate",
    )

    @field_validator("opt_in_keywords")
    @classmethod
    def _not_both_ways(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # Fields validate in order: opt_out_keywords is in info.data unless it failed itself.
        opt_out = {keyword_form(keyword) for keyword in info.data.get("opt_out_keywords", ())}
        for keyword in value:
            if keyword_form(keyword) in opt_out:
                # No context: the text is final, braces in a keyword included.
                raise PydanticCustomError(
                    "keyword_in_both",
                    f"{keyword!r} is both an opt-out and an opt-in keyword (compared trimmed, "
                    "ignoring case)",
                )
        return value


class SessionSettingsOut(BaseModel):
    enabled: bool
    expiry_hours: int
    message: str
    quiet_hours: QuietHours | None
    timezone: str
    opt_out_keywords: list[str]
    opt_in_keywords: list[str]
    fallback_template: FallbackTemplate | None
    message_prices: MessagePrices | None
    updated_at: datetime | None = Field(description="null while the defaults apply")
    version: int = Field(description="counts the saves; 0 while the defaults apply")

    @classmethod
    def of(cls, record: SessionSettingsRecord) -> SessionSettingsOut:
        return cls(
            enabled=record.enabled,
            expiry_hours=record.expiry_hours,
            message=record.message,
            quiet_hours=record.quiet_hours,
            timezone=record.timezone,
            opt_out_keywords=list(record.opt_out_keywords),
            opt_in_keywords=list(record.opt_in_keywords),
            fallback_template=record.fallback_template,
            message_prices=record.message_prices,
            updated_at=record.updated_at,
            version=record.version,
        )


class DeliveryOut(BaseModel):
    status: Literal["started", "deferred"] = Field(
        description="started: the account's settings-propagation workflow delivers this version "
        "to every running session; deferred: Temporal could not be reached, and the worker's "
        "reconciler starts the delivery as soon as it can"
    )
    version: int = Field(description="the saved settings version")
    workflow_id: str = Field(description="the propagation workflow, in the Temporal Web UI")


class SettingsSaved(BaseModel):
    message: Literal["Settings saved successfully"] = "Settings saved successfully"
    settings: SessionSettingsOut
    delivery: DeliveryOut


class PreviewContact(_Body):
    first_name: Name = None
    last_name: Name = None
    email: Email = None
    wa_id: str | None = Field(
        default=None, pattern=PHONE_PATTERN, description="default: +1234567890"
    )


class PreviewIn(_Body):
    message: str | None = Field(
        default=None,
        max_length=4 * MAX_MESSAGE_LENGTH,
        description="template to render; default: the saved message",
    )
    contact: PreviewContact | None = Field(default=None, description="an ad-hoc contact")
    wa_id: str | None = Field(
        default=None,
        pattern=CUSTOMER_ID_PATTERN,
        description=f"a stored contact: {CUSTOMER_ID_RULE}",
    )
    template_parameters: (
        list[Annotated[str, Field(max_length=4 * MAX_TEMPLATE_PARAMETER_LENGTH)]] | None
    ) = Field(
        default=None,
        max_length=MAX_TEMPLATE_PARAMETERS,
        description="template parameters to render; default: the saved template's",
    )


class PreviewOut(BaseModel):
    text: str
    characters: int
    within_limit: bool = Field(
        description=f"whether the template is within {MIN_MESSAGE_LENGTH}-{MAX_MESSAGE_LENGTH} "
        "characters"
    )
    notes: list[str] = Field(
        default_factory=list,
        description="how the message reads differently for some customers (shown under the "
        "preview)",
    )
    template_parameters: list[str] | None = Field(
        default=None,
        description="the template's parameters as this contact would receive them; null when "
        "none were given and no template is saved",
    )


# -- sessions ---------------------------------------------------------------------------------


class SessionOut(BaseModel):
    wa_id: str | None = _WA_ID
    user_id: str | None = _USER_ID
    username: str | None = _USERNAME
    state: SessionState
    last_customer_message_at: datetime | None
    reminder_due_at: datetime | None
    window_closes_at: datetime | None
    reminder_outcome: str | None
    temporal_ui_url: str
    workflow_id: str
    run_id: str | None
    conversation_key: str
    running: bool
    live: bool = Field(description="true when read from the workflow itself (query)")
    opted_out: bool | None = Field(
        default=None,
        description="whether the customer opted out (nothing is sent to them); null when no "
        "contact is stored for the conversation",
    )
    template_due_at: datetime | None = Field(
        default=None,
        description="when the window closed unanswered and the fallback template waits for its "
        "moment (live reads only)",
    )
    reminder_replied_at: datetime | None = Field(
        default=None,
        description="when the customer first wrote after this session's last sent reminder "
        "(live reads only)",
    )


class SessionList(BaseModel):
    items: list[SessionOut]


# -- reminders --------------------------------------------------------------------------------


class ReminderOut(BaseModel):
    reminder_id: str
    wa_id: str | None = Field(description="the customer's number, when known (it is sent to)")
    user_id: str | None = Field(
        description="the customer's BSUID, when known (sent to without a number)"
    )
    username: str | None = _USERNAME
    last_customer_message_at: datetime
    outcome: str = Field(description="one of: " + ", ".join(sorted(DECISIONS)))
    reason: str | None
    error_code: int | None
    message_id: str | None
    delivery_status: str | None = Field(description="null, or one of: " + ", ".join(DeliveryStatus))
    delivery_updated_at: datetime | None
    text: str | None
    decided_at: datetime
    attempts: int
    kind: SendKind = Field(
        description="reminder: the free-form reminder inside the window; template: the "
        "approved template sent when the window closed unanswered"
    )
    nominal_due_at: datetime | None = Field(
        description="when it was due by the hours alone (null in records from before quiet hours)"
    )
    send_at: datetime | None = Field(
        description="the moment chosen for it, later or earlier than nominal_due_at when it "
        "fell in quiet hours"
    )
    replied_at: datetime | None = Field(
        default=None,
        description="when the customer first wrote after this reminder was sent, inside its "
        "window; null when they did not (docs: analytics, replies)",
    )
    reply_seconds: int | None = Field(
        default=None, description="seconds from the send to that reply"
    )

    @classmethod
    def of(cls, record: ReminderRecord, contact: Contact | None = None) -> ReminderOut:
        return cls(
            reminder_id=record.reminder_id,
            wa_id=record.wa_id,
            user_id=record.user_id,
            username=None if contact is None else contact.username,
            last_customer_message_at=record.last_customer_message_at,
            outcome=record.outcome,
            reason=record.reason,
            error_code=record.error_code,
            message_id=record.message_id,
            delivery_status=record.delivery_status,
            delivery_updated_at=record.delivery_updated_at,
            text=record.text,
            decided_at=record.decided_at,
            attempts=record.attempts,
            kind=record.kind,
            nominal_due_at=record.nominal_due_at,
            send_at=record.send_at,
            replied_at=record.replied_at,
            reply_seconds=record.reply_seconds,
        )


class ReminderList(BaseModel):
    items: list[ReminderOut]
    next: str | None = Field(description="cursor of the next page; null on the last")


# -- analytics ------------------------------------------------------------------------------


class MoneyOut(BaseModel):
    amount: str = Field(description="a decimal string, exact (never a float)")
    currency: str

    @classmethod
    def of(cls, money: Money | None) -> MoneyOut | None:
        return None if money is None else cls(amount=str(money.amount), currency=money.currency)


_RATE = Field(description="replied / reminders_sent, to 4 places; null when none was sent")


class AnalyticsDayOut(BaseModel):
    date: date
    reminders_sent: int
    replied: int
    reply_rate: float | None = _RATE


class AnalyticsOut(BaseModel):
    """docs/analytics.md#the-analytics-endpoint defines every figure."""

    from_: date = Field(serialization_alias="from", description="the first UTC day, included")
    to: date = Field(description="the last UTC day, included")
    reminders_sent: int = Field(description="reminders sent (outcome sent)")
    delivered: int = Field(description="of those, delivered or read")
    read: int = Field(description="of those, read")
    failed: int = Field(
        description="reminders that failed (failed, failed_window_closed) or were sent and then "
        "reported failed"
    )
    replied: int = Field(description="sent reminders the customer replied to")
    reply_rate: float | None = _RATE
    median_reply_seconds: float | None = Field(
        description="median seconds from a reminder to its reply; null without replies"
    )
    templates_sent: int = Field(description="templates sent (outcome sent)")
    estimated_cost: MoneyOut | None = Field(
        description="what the delivered reminders and templates cost at the account's "
        "message_prices; null without prices"
    )
    cost_per_reply: MoneyOut | None = Field(
        description="the delivered reminders' cost divided by replied; null without prices or "
        "replies"
    )
    days: list[AnalyticsDayOut] = Field(description="every day of the range, oldest first")


# -- health -----------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, str]
