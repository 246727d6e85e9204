"""The typed contract between the API, the conversation workflow and its activities.

One model per signal, query, activity input and activity result (pydantic, carried by the
pydantic data converter). Their JSON is what recorded histories hold, so a field may be added
with a default but never renamed or retyped (``tests/workflows/test_replay.py`` guards this).
Safe to import from workflow code: no I/O, no clocks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from core.reach import DEFAULT_TIMEZONE, QuietHours
from core.vocabulary import (
    MAX_EXPIRY_HOURS,
    MIN_EXPIRY_HOURS,
    ReminderOutcome,
    SendKind,
    SessionState,
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


# Earlier message ids one signal carries at most: what the workflow remembers for its dedupe.
MAX_EARLIER_MESSAGE_IDS = 1_000


class CustomerMessage(_Model):
    """Signal: the customer wrote (the newest ``messages[]`` item of one webhook POST).

    Older messages of the same conversation in the same POST cannot move T further (they share
    ``received_at``, and T is the latest of them), so the API folds them into this one signal:
    ``earlier_message_ids`` lets the workflow count them and recognise their redelivery.
    """

    message_id: str = Field(min_length=1, description="Meta's wamid, the dedupe key")
    sent_at: AwareDatetime = Field(description="Meta's timestamp of the message")
    received_at: AwareDatetime = Field(description="when our webhook received it")
    earlier_message_ids: list[str] = Field(
        default_factory=list,
        max_length=MAX_EARLIER_MESSAGE_IDS,
        description="older messages of the same POST folded into this signal, oldest first",
    )


class HandOverItem(_Model):
    """One conversation's signal of a webhook POST, left to the hand-over workflow."""

    account_id: str
    conversation_key: str
    message: CustomerMessage


class HandOverBatch(_Model):
    """Input of the webhook hand-over workflow: signals the API did not send itself, because
    a large POST must be answered within Meta's timeout (docs/sessions.md). Conversation keys
    and message ids only: no number, BSUID or name enters Temporal."""

    items: list[HandOverItem] = Field(min_length=1)


class SettingsChanged(_Model):
    """Signal: the account's session settings were saved; reload them and re-arm.

    The workflow reads the settings from the database, which is the truth; ``version`` only
    lets a session skip a reload for a version it already has (None: reload anyway). Histories
    recorded before may hold a ``changed_at``; pydantic ignores it.
    """

    version: int | None = None


class ReminderSettings(_Model):
    """What the workflow needs of the settings to arm its timer.

    Quiet hours come with the zone they are read in for this session's contact (its number's,
    else the account's), so the workflow computes the moment itself (docs/reaching.md).
    """

    enabled: bool
    expiry_hours: int = Field(ge=MIN_EXPIRY_HOURS, le=MAX_EXPIRY_HOURS)
    version: int | None = Field(default=None, description="the settings version read")
    quiet_hours: QuietHours | None = None
    time_zone: str = DEFAULT_TIMEZONE
    fallback_template: bool = Field(
        default=False, description="a template is to be sent when the window closes unanswered"
    )


class LoadSettingsRequest(_Model):
    account_id: str
    # The session's contact, whose number may give the zone of the quiet hours; None in
    # histories recorded before quiet hours existed.
    conversation_key: str | None = None


class RecordReplyRequest(_Model):
    """Activity input: the customer replied to a sent reminder (docs/analytics.md#replies)."""

    account_id: str
    reminder_id: str
    sent_at: AwareDatetime = Field(description="when the reminder was sent")
    replied_at: AwareDatetime = Field(description="the reply's own time (Meta's timestamp)")


class ReplyWatch(_Model):
    """The reminder this session sent last: a customer message after it, inside the window, is
    its reply."""

    reminder_id: str
    sent_at: AwareDatetime
    replied_at: AwareDatetime | None = None


class CarriedState(_Model):
    """What one run hands to the next on continue-as-new."""

    last_customer_message_at: AwareDatetime | None = None
    seen_message_ids: list[str] = Field(default_factory=list)
    reminder_outcome: ReminderOutcome | None = None
    decided_for: AwareDatetime | None = Field(
        default=None, description="the T whose silence already got a final reminder decision"
    )
    message_count: int = 0
    attempted_for: AwareDatetime | None = Field(
        default=None, description="the T whose send may have left a record still in flight"
    )
    retry_for: AwareDatetime | None = Field(
        default=None, description="the T whose next attempt must wait for ``retry_at``"
    )
    retry_at: AwareDatetime | None = None
    reply_watch: ReplyWatch | None = None
    replies_to_record: list[RecordReplyRequest] = Field(default_factory=list)


class ConversationInput(_Model):
    """Workflow input: which conversation this session belongs to."""

    account_id: str
    conversation_key: str = Field(
        description="keyed hash of the customer's first identifier (number or BSUID)"
    )
    carried: CarriedState | None = None
    # Continue-as-new also happens at this history length, so tests and small servers see it
    # without waiting for the server's own suggestion.
    max_history_events: int = Field(default=10_000, ge=100)


class SessionSnapshot(_Model):
    """Query result: the session as the workflow sees it right now."""

    account_id: str
    conversation_key: str
    state: SessionState
    last_customer_message_at: datetime | None
    reminder_due_at: datetime | None
    window_closes_at: datetime | None
    reminder_outcome: ReminderOutcome | None
    enabled: bool | None
    expiry_hours: int | None
    message_count: int
    # Set while the window has closed and the fallback template waits for its moment.
    template_due_at: datetime | None = None
    template_outcome: ReminderOutcome | None = None
    # When the customer first wrote after this session's last sent reminder (None: not yet).
    reminder_replied_at: datetime | None = None


class ReminderRequest(_Model):
    """Activity input: decide (and maybe send) the reminder for the silence that began at T,
    or (``kind`` template) the template sent when that silence's window closed unanswered."""

    account_id: str
    conversation_key: str
    last_customer_message_at: AwareDatetime
    kind: SendKind = SendKind.REMINDER


class ReminderResult(_Model):
    """Activity result: one attempt's decision (docs/sending.md).

    A decision ends the attempts. ``not_due`` (with the hours that moved the due time),
    ``retrying`` (throttled, certainly not sent) and ``ambiguous`` (may have been sent; waiting
    for proof) ask the workflow to come back after ``retry_in_seconds``, measured by the
    activity's own clock.
    """

    outcome: ReminderOutcome
    expiry_hours: int | None = None
    reminder_id: str | None = None
    message_id: str | None = None
    error_code: int | None = None
    reason: str | None = None
    retry_in_seconds: float | None = Field(default=None, ge=0)
    sent_at: AwareDatetime | None = Field(
        default=None, description="when a reminder decided ``sent`` went out"
    )


CloseReason = Literal["customer_replied", "window_closed", "disabled", "gave_up"]


class CloseSilenceRequest(_Model):
    """Activity input: the silence that began at T is over; settle its record if in flight."""

    account_id: str
    conversation_key: str
    last_customer_message_at: AwareDatetime
    why: CloseReason
    kind: SendKind = SendKind.REMINDER


class SettingsDelivery(_Model):
    """Input and signal of the settings-propagation workflow: an account's settings version."""

    account_id: str
    version: int = Field(ge=1)
