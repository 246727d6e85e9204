"""The conversation's activities: read the settings, and decide-and-send one reminder.

The rules are docs/sessions.md and docs/sending.md. ``ConversationActivities`` gets its
collaborators (store, WhatsApp client, pacer, clock) in the constructor; ``worker.py`` builds
it and registers the bound methods. The module imports no I/O
library at run time (only types under ``TYPE_CHECKING``), so the workflow may import it to
reference the activities by method.

Never a duplicate: a send first *claims* the idempotency record of (conversation, T). A retried
attempt finds the claim: a final outcome is reused, a claim released as ``retrying`` (the send
certainly did not happen) is taken over, and a claim still ``pending`` (an attempt died while
sending) is recorded as ``unknown`` and not re-sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.throttle import SendPacer
from core.clock import AsyncClock, awaitable, utc_now
from core.contract import LoadSettingsRequest, ReminderRequest, ReminderResult, ReminderSettings
from core.merge_fields import merge_values, render
from core.vocabulary import DEFAULT_EXPIRY_HOURS, IN_FLIGHT_OUTCOMES, ReminderOutcome
from core.window import reminder_due_at, window_closes_at
from store.errors import AccountNotFound
from whatsapp.errors import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
    WindowClosedError,
)

if TYPE_CHECKING:
    from store.records import ReminderRecord
    from store.repository import Store
    from whatsapp.client import CloudApiClient


class _RecordKeys(TypedDict):
    """What identifies an audit record: the conversation and the silence's T."""

    account_id: str
    conversation_key: str
    wa_id: str
    last_customer_message_at: datetime


# Used when an account vanished: its sessions pause instead of failing.
DISABLED = ReminderSettings(enabled=False, expiry_hours=DEFAULT_EXPIRY_HOURS)


def _result(record: ReminderRecord) -> ReminderResult:
    return ReminderResult(
        outcome=record.outcome,
        reminder_id=record.reminder_id,
        message_id=record.message_id,
        error_code=record.error_code,
        reason=record.reason,
    )


class ConversationActivities:
    """Activities of the conversation workflow, bound to one store and one WhatsApp client."""

    def __init__(
        self,
        *,
        store: Store,
        whatsapp: CloudApiClient,
        pacer: SendPacer | None = None,
        clock: AsyncClock | None = None,
    ) -> None:
        self._store = store
        self._whatsapp = whatsapp
        self._pacer = pacer or SendPacer()
        self._clock = clock or awaitable(utc_now)

    @activity.defn
    async def load_settings(self, request: LoadSettingsRequest) -> ReminderSettings:
        """The account's reminder switch and hours as the database has them now."""
        try:
            settings = await self._store.settings.get(account_id=request.account_id)
        except AccountNotFound:
            activity.logger.warning("account %s not found; session paused", request.account_id)
            return DISABLED
        return ReminderSettings(enabled=settings.enabled, expiry_hours=settings.expiry_hours)

    @activity.defn
    async def send_reminder(self, request: ReminderRequest) -> ReminderResult:
        """Re-check everything at fire time, then send the reminder at most once."""
        result = await self._decide_and_send(request)
        # Reminders by outcome, on the worker's Prometheus endpoint (WORKER_METRICS_ADDRESS).
        activity.metric_meter().create_counter(
            "reminder_decisions", "Reminder decisions of the send activity, by outcome."
        ).add(1, {"outcome": result.outcome.value})
        return result

    async def _decide_and_send(self, request: ReminderRequest) -> ReminderResult:
        reminders = self._store.reminders
        last = request.last_customer_message_at
        context = await reminders.load_context(
            account_id=request.account_id, conversation_key=request.conversation_key
        )
        account, contact, settings = context.account, context.contact, context.settings
        if account is None or contact is None or settings is None:
            missing = "contact" if account is not None else "account"
            activity.logger.warning(
                "no %s for conversation %s; reminder not sent", missing, request.conversation_key
            )
            return ReminderResult(outcome=ReminderOutcome.FAILED, reason=f"{missing} not found")
        now = await self._clock()
        record_keys: _RecordKeys = {
            "account_id": request.account_id,
            "conversation_key": request.conversation_key,
            "wa_id": contact.wa_id,
            "last_customer_message_at": last,
        }

        if not settings.enabled:
            record = await reminders.record_decision(
                **record_keys,
                outcome=ReminderOutcome.SKIPPED_DISABLED,
                reason="session reminders are disabled",
                at=now,
            )
            return _result(record)

        due = reminder_due_at(last, settings.expiry_hours)
        closes = window_closes_at(last)
        if now < due and now < closes:
            return ReminderResult(
                outcome=ReminderOutcome.NOT_DUE, expiry_hours=settings.expiry_hours
            )

        try:
            values = merge_values(
                first_name=contact.first_name,
                last_name=contact.last_name,
                email=contact.email,
                profile_name=contact.profile_name,
                wa_id=contact.wa_id,
                company_name=account.company_name,
            )
        except ValueError as err:  # a number WhatsApp itself would refuse: no retry can help
            record = await reminders.record_decision(
                **record_keys, outcome=ReminderOutcome.FAILED, reason=str(err), at=now
            )
            return _result(record)
        text = render(settings.message, values)
        claim = await reminders.claim(**record_keys, text=text, at=now)
        record = claim.record
        if not claim.acquired:
            if record.outcome not in IN_FLIGHT_OUTCOMES:
                return _result(record)  # a retry after the decision was stored
            # An earlier attempt died between claiming and recording: it may have sent.
            record = await reminders.finish(
                reminder_id=record.reminder_id,
                outcome=ReminderOutcome.UNKNOWN,
                reason="an earlier attempt stopped mid-send; not re-sent to avoid a duplicate",
                at=now,
            )
            return _result(record)

        if now >= closes:
            record = await reminders.finish(
                reminder_id=record.reminder_id,
                outcome=ReminderOutcome.SKIPPED_WINDOW_CLOSED,
                reason="the 24-hour window had closed",
                at=now,
            )
            return _result(record)

        return await self._send(
            record,
            phone_number_id=account.phone_number_id,
            access_token=account.access_token,
            wa_id=contact.wa_id,
            text=text,
        )

    async def _send(
        self,
        record: ReminderRecord,
        *,
        phone_number_id: str,
        access_token: str,
        wa_id: str,
        text: str,
    ) -> ReminderResult:
        """Send a claimed reminder and store what Meta answered."""
        reminders = self._store.reminders
        await self._pacer.wait_turn(phone_number_id)
        try:
            sent = await self._whatsapp.send_text(
                phone_number_id=phone_number_id,
                access_token=access_token,
                to=wa_id,
                body=text,
                callback_data=record.reminder_id,
            )
        except WindowClosedError as err:
            record = await reminders.finish(
                at=await self._clock(),
                reminder_id=record.reminder_id,
                outcome=ReminderOutcome.FAILED_WINDOW_CLOSED,
                reason=err.message,
                error_code=err.code,
            )
        except PermanentSendError as err:
            record = await reminders.finish(
                at=await self._clock(),
                reminder_id=record.reminder_id,
                outcome=ReminderOutcome.FAILED,
                reason=err.message,
                error_code=err.code,
            )
        except AmbiguousSendError as err:
            record = await reminders.finish(
                at=await self._clock(),
                reminder_id=record.reminder_id,
                outcome=ReminderOutcome.UNKNOWN,
                reason=f"may have reached WhatsApp, not re-sent: {err.message}",
            )
        except RetryableSendError as err:
            # Certainly not sent: release the claim so the retry may send, and let Temporal back
            # off (honouring Meta's Retry-After when it gave one).
            await reminders.release(
                reminder_id=record.reminder_id,
                reason=err.message,
                error_code=err.code,
                at=await self._clock(),
            )
            raise ApplicationError(
                f"WhatsApp asked to retry: {err.message}",
                type="WhatsAppRetryable",
                next_retry_delay=None
                if err.retry_after is None
                else timedelta(seconds=err.retry_after),
            ) from err
        else:
            record = await reminders.finish(
                at=await self._clock(),
                reminder_id=record.reminder_id,
                outcome=ReminderOutcome.SENT,
                message_id=sent.message_id,
            )
        return _result(record)
