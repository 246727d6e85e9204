"""Meta's ``messages`` webhook: pydantic models of the payload and its flattening.

``parse_webhook`` turns one raw POST body into a ``WebhookBatch`` holding EVERY customer message
and status of every entry and change (the reference product handled only the first), plus what
was left out and why.

The reader is tolerant (docs/http-api.md#webhook): Meta redelivers a refused body for days, so
one bad item must not keep its siblings from being handled. Only a body that is not a WhatsApp
webhook at all raises ``InvalidWebhook`` (the API answers 400): not JSON, not an object, no
``object`` string, no ``entry`` list. Below that, an item that lacks what it needs (an entry
without ``changes``, a change without ``metadata``, a message without ``from``, a bad
timestamp …) is skipped as ``IgnoredKind.INVALID`` with a reason that names the place, e.g.
``entry[0].changes[1].value.messages[2].timestamp: not a unix timestamp``, and the rest is
handled. Unknown fields and unknown message types never reject anything. Nothing else is ever
raised, whatever the bytes.

Every field the service uses is bounded (``core.vocabulary``,
docs/http-api.md#webhook-field-bounds): no value leaves this module that Temporal or the
database could not hold — a NUL, an unpaired surrogate (valid JSON, not encodable as UTF-8),
more characters than its column — because such an item would fail on every redelivery and hold
back everything beside it. A contact's unusable profile name or username costs only itself: the
message it names is still handled.

Deliberately not handled either (``WebhookBatch.ignored`` says why): another ``object`` than
``whatsapp_business_account``, change fields other than ``messages`` (their ``value`` has another
shape), ``system``/``unsupported`` messages (not customer messages, docs/sessions.md), status values
we do not track (``deleted``, ``warning``, anything new) and ``value.errors[]`` notifications.

What a customer wrote is read once, and only to recognise an opt-out or opt-in keyword: the body
of a text message short enough to be one (``core.reach.MAX_KEYWORD_LENGTH``) is kept as
``InboundMessage.keyword_text``, which is neither logged nor serialized.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from core.identity import CustomerIdentity
from core.reach import MAX_KEYWORD_LENGTH
from core.storable import STORABLE
from core.vocabulary import (
    BSUID_MAX_LENGTH,
    BSUID_PATTERN,
    MAX_PROFILE_NAME_LENGTH,
    MAX_WEBHOOK_CALLBACK_DATA_LENGTH,
    MAX_WEBHOOK_MESSAGE_ID_LENGTH,
    MAX_WEBHOOK_TEXT_LENGTH,
    MAX_WEBHOOK_WORD_LENGTH,
    PHONE_NUMBER_ID_PATTERN,
    USERNAME_PATTERN,
    WEBHOOK_PHONE_PATTERN,
    DeliveryStatus,
)

MAX_WEBHOOK_BYTES = 3 * 1024 * 1024

WHATSAPP_BUSINESS_ACCOUNT = "whatsapp_business_account"
MESSAGES_FIELD = "messages"

# ``unknown`` and ``errors`` are the older names of ``unsupported`` (a message Meta could not
# deliver to us); neither they nor ``system`` notices are written by the customer.
NON_CUSTOMER_MESSAGE_TYPES = frozenset({"system", "unsupported", "unknown", "errors"})

_DELIVERY_STATUSES: frozenset[str] = frozenset(DeliveryStatus)

# Latest instant a datetime can hold (9999-12-31T23:59:59Z); larger numbers are not timestamps.
_MAX_UNIX_SECONDS = 253_402_300_799
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidWebhook(Exception):
    """The body is not a well-formed webhook payload; ``reason`` says where and why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _parse_unix_timestamp(value: object) -> datetime:
    """Meta's ``timestamp``: Unix seconds as a string (an integer is accepted too)."""
    seconds: int | None = None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        seconds = int(value) if len(value) <= 12 else None
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    if seconds is None or not 0 <= seconds <= _MAX_UNIX_SECONDS:
        raise PydanticCustomError("unix_timestamp", "not a unix timestamp")
    # Epoch arithmetic rather than fromtimestamp(), which is platform-limited for big values.
    return _EPOCH + timedelta(seconds=seconds)


UnixTimestamp = Annotated[datetime, PlainValidator(_parse_unix_timestamp)]


# The webhook's field bounds (docs/http-api.md#webhook-field-bounds).
MessageId = Annotated[str, Field(min_length=1, max_length=MAX_WEBHOOK_MESSAGE_ID_LENGTH), STORABLE]
CallbackData = Annotated[str, Field(max_length=MAX_WEBHOOK_CALLBACK_DATA_LENGTH), STORABLE]
ProfileName = Annotated[str, Field(max_length=MAX_PROFILE_NAME_LENGTH), STORABLE]
Word = Annotated[str, Field(max_length=MAX_WEBHOOK_WORD_LENGTH), STORABLE]
FreeText = Annotated[str, Field(max_length=MAX_WEBHOOK_TEXT_LENGTH), STORABLE]
RecipientId = Annotated[str, Field(max_length=BSUID_MAX_LENGTH), STORABLE]
Username = Annotated[str, Field(pattern=USERNAME_PATTERN)]
PhoneNumberId = Annotated[str, Field(min_length=1, pattern=PHONE_NUMBER_ID_PATTERN)]


class _Payload(BaseModel):
    """Meta adds fields over time; unknown ones are kept, never an error."""

    model_config = ConfigDict(extra="allow", frozen=True)


# --- the payload as Meta sends it ----------------------------------------------------------------


class ErrorData(_Payload):
    details: FreeText | None = None


class WebhookError(_Payload):
    """One item of ``value.errors[]``, ``messages[].errors[]`` or ``statuses[].errors[]``."""

    code: int
    title: FreeText | None = None
    message: FreeText | None = None
    error_data: ErrorData | None = None
    href: str | None = None


class Metadata(_Payload):
    display_phone_number: str
    # Names the account, and is looked up in the database: the whole change hangs on it.
    phone_number_id: PhoneNumberId


# How Meta names a customer (docs/sessions.md#who-the-customer-is). Every one is optional on its
# own: a user with a username may come without a number, and older payloads without a BSUID.
PhoneNumber = Annotated[str, Field(pattern=WEBHOOK_PHONE_PATTERN)]
Bsuid = Annotated[str, Field(pattern=BSUID_PATTERN, max_length=BSUID_MAX_LENGTH)]


class Profile(_Payload):
    name: ProfileName | None = None
    username: Username | None = None


# Each profile field is read on its own, so that an unusable one costs only itself.
_PROFILE_FIELDS: dict[str, TypeAdapter[Any]] = {
    "name": TypeAdapter(ProfileName | None),
    "username": TypeAdapter(Username | None),
}


class Contact(_Payload):
    # All optional because a contact only lends a display name and a username: a malformed one
    # must not make Meta retry (and us refuse) the messages beside it.
    wa_id: PhoneNumber | None = None
    user_id: Bsuid | None = None
    parent_user_id: Bsuid | None = None
    # Read field by field (``_BatchBuilder._profile``): a bad name must not drop the identifiers.
    profile: Any = None


class Message(_Payload):
    """One ``messages[]`` item; its type-specific body (``text``, ``image``, …) stays in extras.

    The sender is ``from`` (a number), ``from_user_id`` (a BSUID), or both.
    """

    id: MessageId
    from_: PhoneNumber | None = Field(default=None, alias="from")
    from_user_id: Bsuid | None = None
    from_parent_user_id: Bsuid | None = None
    timestamp: UnixTimestamp
    type: Word
    errors: list[WebhookError] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_a_sender(self) -> Message:
        if self.from_ is None and self.from_user_id is None and self.from_parent_user_id is None:
            raise PydanticCustomError("sender", "no sender (from or from_user_id)")
        return self


class Status(_Payload):
    """One ``statuses[]`` item: the delivery state of a message the business sent.

    Since Graph API v24 it carries no ``conversation``; ``pricing`` is optional.
    """

    id: MessageId
    status: Word
    timestamp: UnixTimestamp
    recipient_id: RecipientId | None = None
    recipient_user_id: RecipientId | None = None
    biz_opaque_callback_data: CallbackData | None = None
    errors: list[WebhookError] = Field(default_factory=list)


class ChangeValue(_Payload):
    """``value`` of a change whose ``field`` is ``messages``.

    Only the metadata must be valid for the change to be read at all (it names the account);
    the lists are validated item by item, so one bad item costs only itself.
    """

    messaging_product: str | None = None
    metadata: Metadata
    contacts: list[Any] = Field(default_factory=list)
    messages: list[Any] = Field(default_factory=list)
    statuses: list[Any] = Field(default_factory=list)
    errors: list[Any] = Field(default_factory=list)


class Change(_Payload):
    field: str
    # Validated as ``ChangeValue`` only for the ``messages`` field: other fields (account
    # updates, template status, message echoes …) have other shapes and are ignored.
    value: Any = None


class Entry(_Payload):
    id: str | None = None
    changes: list[Any]


# --- what the service uses ------------------------------------------------------------------------


class _Item(BaseModel):
    model_config = ConfigDict(frozen=True)


class InboundMessage(_Item):
    """A message the customer wrote: moves T and re-arms the session (docs/sessions.md)."""

    phone_number_id: str
    wa_id: str | None = Field(default=None, description="the customer's number, when shown")
    user_id: str | None = Field(default=None, description="the customer's BSUID")
    parent_user_id: str | None = None
    username: str | None = None
    message_id: str
    sent_at: AwareDatetime = Field(description="Meta's timestamp of the message, UTC")
    kind: str = Field(description="Meta's message type: text, image, reaction, …")
    profile_name: str | None = None
    # What the customer wrote, only when it is short enough to be an opt-out or opt-in keyword
    # (api.ingest compares it with the account's lists). Out of repr (never logged) and out of
    # any dump: the customer's words stay in this process, never in a Temporal payload.
    keyword_text: str | None = Field(
        default=None,
        repr=False,
        exclude=True,
        description="a text message's body, trimmed, when at most MAX_KEYWORD_LENGTH characters",
    )

    @property
    def identity(self) -> CustomerIdentity:
        """Who wrote it, as far as this message says."""
        return CustomerIdentity(
            wa_id=self.wa_id,
            user_id=self.user_id,
            parent_user_id=self.parent_user_id,
            username=self.username,
        )


class StatusUpdate(_Item):
    """Delivery state of a message we sent (``callback_data`` is what we put on the send)."""

    phone_number_id: str
    message_id: str
    status: DeliveryStatus
    at: AwareDatetime
    recipient_id: str | None
    callback_data: str | None
    recipient_user_id: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    error_details: str | None = None


class IgnoredKind(StrEnum):
    OTHER_OBJECT = "other_object"  # payload for another product than WhatsApp Business
    OTHER_FIELD = "other_field"  # change field other than ``messages``
    NON_CUSTOMER_MESSAGE = "non_customer_message"  # system / unsupported messages
    UNTRACKED_STATUS = "untracked_status"  # deleted, warning, or a status value we don't know
    ERROR = "error"  # ``value.errors[]`` notification from Meta
    INVALID = "invalid"  # an item lacking what it needs; skipped, its siblings handled


class IgnoredItem(_Item):
    """Part of a webhook that is not acted on, and why; kept so the API can log and count it."""

    kind: IgnoredKind
    reason: str


class WebhookBatch(_Item):
    """Everything one webhook POST carried, flattened over entries and changes, in order."""

    customer_messages: list[InboundMessage] = Field(default_factory=list)
    statuses: list[StatusUpdate] = Field(default_factory=list)
    ignored: list[IgnoredItem] = Field(default_factory=list)


# --- parsing ------------------------------------------------------------------------------------


def parse_webhook(raw: bytes) -> WebhookBatch:
    """Parse and flatten one webhook body; raise ``InvalidWebhook`` if it is malformed."""
    if len(raw) > MAX_WEBHOOK_BYTES:
        raise InvalidWebhook(f"body: larger than {MAX_WEBHOOK_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON, bad UTF-8 and integers too long to convert;
        # RecursionError covers absurdly deep nesting.
        raise InvalidWebhook("body: not valid JSON") from exc

    if not isinstance(data, dict):
        raise InvalidWebhook("body: expected a JSON object")
    obj = data.get("object")
    if not isinstance(obj, str):
        raise InvalidWebhook("object: " + ("missing" if obj is None else "expected a string"))
    if obj != WHATSAPP_BUSINESS_ACCOUNT:
        return WebhookBatch(
            ignored=[
                IgnoredItem(
                    kind=IgnoredKind.OTHER_OBJECT,
                    reason=f"object {_short(obj)} is not {WHATSAPP_BUSINESS_ACCOUNT}",
                )
            ]
        )

    entries = data.get("entry")
    if not isinstance(entries, list):
        raise InvalidWebhook("entry: " + ("missing" if entries is None else "expected a list"))
    batch = _BatchBuilder()
    for i, raw_entry in enumerate(entries):
        entry = batch.validated(Entry, raw_entry, where=f"entry[{i}]")
        if entry is None:
            continue
        for j, raw_change in enumerate(entry.changes):
            where = f"entry[{i}].changes[{j}]"
            change = batch.validated(Change, raw_change, where=where)
            if change is None:
                continue
            if change.field != MESSAGES_FIELD:
                batch.ignore(
                    IgnoredKind.OTHER_FIELD, f"{where}: field {_short(change.field)} not handled"
                )
                continue
            value = batch.validated(ChangeValue, change.value, where=f"{where}.value")
            if value is not None:
                batch.add_change(value, where=f"{where}.value")
    return batch.build()


_M = TypeVar("_M", bound=BaseModel)


class _BatchBuilder:
    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.statuses: list[StatusUpdate] = []
        self.ignored: list[IgnoredItem] = []

    def ignore(self, kind: IgnoredKind, reason: str) -> None:
        self.ignored.append(IgnoredItem(kind=kind, reason=reason))

    def validated(self, model: type[_M], data: Any, *, where: str) -> _M | None:
        """``data`` as ``model``; or None, with the item skipped as invalid and the reason kept."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self.ignore(IgnoredKind.INVALID, _reason(exc, prefix=where))
            return None

    def add_change(self, value: ChangeValue, *, where: str) -> None:
        phone_number_id = value.metadata.phone_number_id
        # contacts[] lend a display name, a username and identifiers, matched to messages by
        # number or by BSUID; a malformed one costs only what it would have lent.
        contacts: dict[str, Contact] = {}
        profiles: dict[int, Profile | None] = {}
        for k, raw_contact in enumerate(value.contacts):
            contact = self.validated(Contact, raw_contact, where=f"{where}.contacts[{k}]")
            if contact is None:
                continue
            profiles[id(contact)] = self._profile(
                contact.profile, where=f"{where}.contacts[{k}].profile"
            )
            for name in (contact.wa_id, contact.user_id, contact.parent_user_id):
                if name is not None:
                    contacts.setdefault(name, contact)
        for k, raw_message in enumerate(value.messages):
            message = self.validated(Message, raw_message, where=f"{where}.messages[{k}]")
            if message is None:
                continue
            if message.type in NON_CUSTOMER_MESSAGE_TYPES:
                self.ignore(
                    IgnoredKind.NON_CUSTOMER_MESSAGE,
                    f"{where}.messages[{k}]: type {_short(message.type)} is not a customer message",
                )
                continue
            contact = next(
                (
                    contacts[name]
                    for name in (message.from_user_id, message.from_, message.from_parent_user_id)
                    if name is not None and name in contacts
                ),
                None,
            )
            profile = None if contact is None else profiles[id(contact)]
            self.messages.append(
                InboundMessage(
                    phone_number_id=phone_number_id,
                    wa_id=message.from_ or (None if contact is None else contact.wa_id),
                    user_id=message.from_user_id or (None if contact is None else contact.user_id),
                    parent_user_id=message.from_parent_user_id
                    or (None if contact is None else contact.parent_user_id),
                    username=None if profile is None else profile.username,
                    message_id=message.id,
                    sent_at=message.timestamp,
                    kind=message.type,
                    profile_name=None if profile is None else profile.name,
                    keyword_text=_keyword_text(message),
                )
            )
        for k, raw_status in enumerate(value.statuses):
            status = self.validated(Status, raw_status, where=f"{where}.statuses[{k}]")
            if status is None:
                continue
            if status.status not in _DELIVERY_STATUSES:
                self.ignore(
                    IgnoredKind.UNTRACKED_STATUS,
                    f"{where}.statuses[{k}]: status {_short(status.status)} is not tracked",
                )
                continue
            error = status.errors[0] if status.errors else None
            self.statuses.append(
                StatusUpdate(
                    phone_number_id=phone_number_id,
                    message_id=status.id,
                    status=DeliveryStatus(status.status),  # checked just above
                    at=status.timestamp,
                    recipient_id=status.recipient_id,
                    recipient_user_id=status.recipient_user_id,
                    callback_data=status.biz_opaque_callback_data,
                    error_code=error.code if error else None,
                    error_message=(error.message or error.title) if error else None,
                    error_details=(
                        error.error_data.details if error and error.error_data else None
                    ),
                )
            )
        for k, raw_error in enumerate(value.errors):
            err = self.validated(WebhookError, raw_error, where=f"{where}.errors[{k}]")
            if err is not None:
                title = err.message or err.title or "no message"
                self.ignore(IgnoredKind.ERROR, f"{where}.errors[{k}]: code {err.code}: {title}")

    def _profile(self, raw: Any, *, where: str) -> Profile | None:
        """The usable part of a contact's profile: a field outside its bounds is dropped (and
        counted as invalid), the rest kept; the message beside it is handled either way."""
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.ignore(IgnoredKind.INVALID, f"{where}: expected an object")
            return None
        fields: dict[str, Any] = {}
        for name, adapter in _PROFILE_FIELDS.items():
            try:
                fields[name] = adapter.validate_python(raw.get(name))
            except ValidationError as exc:
                self.ignore(IgnoredKind.INVALID, _reason(exc, prefix=f"{where}.{name}"))
        return Profile(**fields)

    def build(self) -> WebhookBatch:
        return WebhookBatch(
            customer_messages=self.messages, statuses=self.statuses, ignored=self.ignored
        )


def _keyword_text(message: Message) -> str | None:
    """A text message's body, trimmed, if it is short enough to be a keyword; else None.

    Read from the extras, never validated as a model: a text body of any other shape (or none)
    costs nothing, the message is a customer message all the same.
    """
    if message.type != "text" or not message.model_extra:
        return None
    text = message.model_extra.get("text")
    body = text.get("body") if isinstance(text, dict) else None
    if not isinstance(body, str):
        return None
    stripped = body.strip()
    return stripped if 0 < len(stripped) <= MAX_KEYWORD_LENGTH else None


def _reason(exc: ValidationError, *, prefix: str) -> str:
    """The first problem of ``exc`` at its place in the body (never with the offending value)."""
    errors = exc.errors(include_url=False, include_input=False)
    reason = _describe(errors[0], prefix=prefix)
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more)"
    return reason


# Friendlier wording for pydantic's most common complaints; the rest keep pydantic's message.
_MESSAGES = {
    "missing": "missing",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "dict_type": "expected an object",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "string_too_short": "must not be empty",
    "string_too_long": "too long",
    "string_pattern_mismatch": "not in the expected format",
    "string_unicode": "contains an unpaired surrogate",
}


def _describe(error: ErrorDetails, *, prefix: str) -> str:
    path = prefix
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = _MESSAGES.get(error["type"], error["msg"])
    return f"{path or 'body'}: {message}"


def _short(value: str, limit: int = 40) -> str:
    """A quoted, bounded echo of untrusted input for reasons and logs."""
    return repr(value if len(value) <= limit else value[:limit] + "…")
