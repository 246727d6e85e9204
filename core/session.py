"""The typed contract between the API, the conversation workflow and its activities.

One model per signal, query, activity input and activity result (pydantic, carried by the
pydantic data converter). Safe to import from workflow code: no I/O, no clocks.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class SessionState(StrEnum):
    """Where a session stands; also the ``SessionState`` search attribute (SPEC §6)."""

    WAITING = "waiting"  # a reminder is armed for the current silence
    REMINDED = "reminded"  # this silence got its decision; waiting for the customer
    PAUSED = "paused"  # reminders are disabled; waiting for settings or the customer
    EXPIRED = "expired"  # the 24-hour window closed; the run completes


class ReminderOutcome(StrEnum):
    """What the reminder activity decided at fire time."""

    SENT = "sent"
    NOT_DUE = "not_due"  # settings moved the due time later; the workflow re-arms
    SKIPPED_DISABLED = "skipped_disabled"
    SKIPPED_WINDOW_CLOSED = "skipped_window_closed"
    FAILED_WINDOW_CLOSED = "failed_window_closed"  # Meta answered 131047
    FAILED = "failed"  # permanent error from Meta, or no contact/account to send with
    UNKNOWN = "unknown"  # the request may have reached Meta; never re-sent blindly

    @property
    def is_final(self) -> bool:
        """Final outcomes end the silence: no second reminder until the customer writes."""
        return self not in (ReminderOutcome.NOT_DUE, ReminderOutcome.SKIPPED_DISABLED)


class CustomerMessage(_Model):
    """Signal: the customer wrote (one ``messages[]`` item of a webhook)."""

    message_id: str = Field(min_length=1, description="Meta's wamid, the dedupe key")
    sent_at: AwareDatetime = Field(description="Meta's timestamp of the message")
    received_at: AwareDatetime = Field(description="when our webhook received it")


class SettingsChanged(_Model):
    """Signal: the account's session settings were saved; reload them and re-arm."""

    changed_at: AwareDatetime


class ReminderSettings(_Model):
    """What the workflow needs of the settings to arm its timer."""

    enabled: bool
    expiry_hours: int = Field(ge=1, le=23)


class LoadSettingsRequest(_Model):
    account_id: str


class CarriedState(_Model):
    """What one run hands to the next on continue-as-new."""

    last_customer_message_at: AwareDatetime | None = None
    seen_message_ids: list[str] = Field(default_factory=list)
    reminder_outcome: ReminderOutcome | None = None
    decided_for: AwareDatetime | None = Field(
        default=None, description="the T whose silence already got a final reminder decision"
    )
    message_count: int = 0


class ConversationInput(_Model):
    """Workflow input: which conversation this session belongs to."""

    account_id: str
    conversation_key: str = Field(description="keyed hash of the customer number")
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


class ReminderRequest(_Model):
    """Activity input: decide (and maybe send) the reminder for the silence that began at T."""

    account_id: str
    conversation_key: str
    last_customer_message_at: AwareDatetime


class ReminderResult(_Model):
    """Activity result: the decision, and for ``not_due`` when to look again."""

    outcome: ReminderOutcome
    due_at: AwareDatetime | None = None
    expiry_hours: int | None = None
    reminder_id: str | None = None
    message_id: str | None = None
    error_code: int | None = None
    reason: str | None = None
