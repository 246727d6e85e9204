"""The conversation's activities: read the settings, attempt one reminder send, settle a silence.

The rules are docs/sessions.md and docs/sending.md. ``ConversationActivities`` gets its
collaborators (store, WhatsApp client, pacer, clock) in the constructor; ``worker.py`` builds
it and registers the bound methods. The module imports no I/O library at run time (only types
under ``TYPE_CHECKING``), so the workflow may import it to reference the activities by method.

One call of ``send_reminder`` is one attempt, and it never sleeps on Meta's behalf: when it
cannot decide yet it says when to come back (``retry_in_seconds``) and the workflow waits on a
durable timer, which it can abandon when the customer writes again.

Never a duplicate: an attempt first *claims* the silence's record, keyed by (conversation, T)
(``store.reminders``). What the record says decides the attempt:

    new, retrying, skipped_disabled   claimed: this attempt may send
    a decision                        reused: nothing is sent
    pending                           an earlier attempt died mid-send: treated as ambiguous
    ambiguous                         a status webhook is the proof that it went out; without
                                      one after ``ambiguous_wait``, send again with the same
                                      reminder id (docs/sending.md#ambiguous-attempts)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict

from temporalio import activity

from activities.failures import failures_withheld
from activities.throttle import Pacer, SharedPacer
from core.clock import AsyncClock, awaitable, utc_now
from core.contact_zone import contact_zone
from core.contract import (
    CloseReason,
    CloseSilenceRequest,
    LoadSettingsRequest,
    RecordReplyRequest,
    ReminderRequest,
    ReminderResult,
    ReminderSettings,
)
from core.merge_fields import MergeValues, render
from core.quiet_hours import reminder_moment, template_moment
from core.reach import FallbackTemplate, flatten_parameter
from core.vocabulary import DEFAULT_EXPIRY_HOURS, ReminderOutcome, SendKind
from core.window import reminder_due_at, window_closes_at
from store.errors import AccountNotFound
from store.records import Composed
from whatsapp.errors import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
    WindowClosedError,
)

if TYPE_CHECKING:
    from store.records import Contact, ReminderContext, ReminderRecord, SessionSettingsRecord
    from store.reminders import Reminders
    from store.repository import Store
    from whatsapp.client import CloudApiClient


class _RecordKeys(TypedDict):
    """What identifies a silence's record (the conversation, the silence's T, reminder or
    template), and whom."""

    account_id: str
    conversation_key: str
    wa_id: str | None
    user_id: str | None
    last_customer_message_at: datetime
    kind: SendKind


# Used when an account vanished: its sessions pause instead of failing.
DISABLED = ReminderSettings(enabled=False, expiry_hours=DEFAULT_EXPIRY_HOURS)
# Nothing is sent with less than this left before the window closes: the request, Meta's
# processing and the customer's phone all take time, and 131047 would be the answer.
SEND_MARGIN = timedelta(seconds=60)
DEFAULT_AMBIGUOUS_WAIT = timedelta(seconds=60)
# A throttled send without a Retry-After waits 1, 2, 4 … at most 30 seconds.
MAX_BACKOFF_SECONDS = 30.0

# What a record still in flight becomes when its silence ends without a send getting through.
_NOT_SENT_WHEN: dict[CloseReason, ReminderOutcome] = {
    "customer_replied": ReminderOutcome.SKIPPED_CUSTOMER_REPLIED,
    "window_closed": ReminderOutcome.FAILED,
    "disabled": ReminderOutcome.SKIPPED_DISABLED,
    "gave_up": ReminderOutcome.FAILED,
}
_CLOSE_REASONS: dict[CloseReason, str] = {
    "customer_replied": "the customer wrote again before the send got through",
    "window_closed": "the window closed before the send got through",
    "disabled": "reminders were disabled before the send got through",
    "gave_up": "the send activity kept failing until the window closed",
}


def _result(record: ReminderRecord) -> ReminderResult:
    return ReminderResult(
        outcome=record.outcome,
        reminder_id=record.reminder_id,
        message_id=record.message_id,
        error_code=record.error_code,
        reason=record.reason,
        # A sent record's decision is stamped when Meta's answer came (or, proven by a status
        # after an ambiguous attempt, with that attempt's time): the reply clock starts there.
        sent_at=record.decided_at if record.outcome is ReminderOutcome.SENT else None,
    )


def _seconds(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0)


def _backoff(attempts: int) -> float:
    return min(MAX_BACKOFF_SECONDS, 2.0 ** max(attempts - 1, 0))


@dataclass(frozen=True)
class _TemplateMessage:
    """The template a verdict sends: Meta's name and language, the rendered parameters."""

    name: str
    language: str
    body_parameters: tuple[str, ...]


@dataclass(frozen=True)
class _Verdict:
    """What the context says before anything is claimed: send ``composed`` (and, for a
    template, ``template``), or the ``outcome`` (with its reason, or when to come back) of not
    sending now."""

    composed: Composed | None = None
    template: _TemplateMessage | None = None
    outcome: ReminderOutcome | None = None
    reason: str | None = None
    expiry_hours: int | None = None
    retry_in_seconds: float | None = None
    nominal_due_at: datetime | None = None
    # A verdict about a template that is no longer set: nothing to send, nothing to record.
    unrecorded: bool = False


def _verdict(
    context: ReminderContext, *, last: datetime, now: datetime, kind: SendKind
) -> _Verdict:
    """The decision the database's current state allows, before any claim (pure)."""
    account, contact, settings = context.account, context.contact, context.settings
    if account is None or settings is None:
        return _Verdict(outcome=ReminderOutcome.FAILED, reason="account not found")
    if contact is None:
        return _Verdict(outcome=ReminderOutcome.FAILED, reason="contact not found")
    if not settings.enabled:
        return _Verdict(
            outcome=ReminderOutcome.SKIPPED_DISABLED, reason="session reminders are disabled"
        )
    # The zone only matters with quiet hours; the number is not parsed without them.
    zone = (
        settings.timezone
        if settings.quiet_hours is None
        else contact_zone(contact.wa_id, account_timezone=settings.timezone)
    )
    if kind is SendKind.TEMPLATE:
        return _template_verdict(settings, contact, account.company_name, zone, last=last, now=now)
    due = reminder_due_at(last, settings.expiry_hours)
    closes = window_closes_at(last)
    moment = reminder_moment(
        due=due,
        last_customer_message_at=last,
        closes=closes,
        now=now,
        quiet=settings.quiet_hours,
        zone_name=zone,
    )
    # Skipped by quiet hours: decided when it would have been due, not before.
    go_at = due if moment.at is None else moment.at
    if now < go_at and now < closes:
        return _Verdict(
            outcome=ReminderOutcome.NOT_DUE,
            expiry_hours=settings.expiry_hours,
            retry_in_seconds=_seconds(go_at - now),
        )
    if closes - now < SEND_MARGIN:
        return _Verdict(outcome=ReminderOutcome.SKIPPED_WINDOW_CLOSED)
    if contact.opted_out:
        return _Verdict(
            outcome=ReminderOutcome.SKIPPED_OPTED_OUT,
            reason=_OPTED_OUT_REASON,
            nominal_due_at=due,
        )
    if moment.at is None:
        assert settings.quiet_hours is not None  # only quiet hours skip a reminder
        quiet = settings.quiet_hours
        return _Verdict(
            outcome=ReminderOutcome.SKIPPED_QUIET_HOURS,
            reason=f"quiet hours {quiet.start}-{quiet.end} ({zone}) left no moment before the "
            "window closes",
            nominal_due_at=due,
        )
    try:
        values = contact.merge_values(account.company_name)
    except ValueError as err:  # a number WhatsApp itself would refuse: no retry can help
        return _Verdict(outcome=ReminderOutcome.FAILED, reason=str(err), nominal_due_at=due)
    return _Verdict(
        composed=Composed(
            text=render(settings.message, values), nominal_due_at=due, send_at=max(go_at, now)
        )
    )


_OPTED_OUT_REASON = "the contact opted out"


def _template_verdict(
    settings: SessionSettingsRecord,
    contact: Contact,
    company_name: str,
    zone: str,
    *,
    last: datetime,
    now: datetime,
) -> _Verdict:
    """The template's decision once the window closed (docs/reaching.md#template-fallback)."""
    template = settings.fallback_template
    if template is None:
        return _Verdict(
            outcome=ReminderOutcome.SKIPPED_DISABLED,
            reason="no fallback template is set",
            unrecorded=True,
        )
    closes = window_closes_at(last)
    go_at = template_moment(closes=closes, quiet=settings.quiet_hours, zone_name=zone)
    if now < go_at:
        return _Verdict(outcome=ReminderOutcome.NOT_DUE, retry_in_seconds=_seconds(go_at - now))
    if contact.opted_out:
        return _Verdict(
            outcome=ReminderOutcome.SKIPPED_OPTED_OUT,
            reason=_OPTED_OUT_REASON,
            nominal_due_at=closes,
        )
    try:
        values = contact.merge_values(company_name)
    except ValueError as err:
        return _Verdict(outcome=ReminderOutcome.FAILED, reason=str(err), nominal_due_at=closes)
    message = _template_message(template, values)
    return _Verdict(
        composed=Composed(
            text=_template_summary(message), nominal_due_at=closes, send_at=max(go_at, now)
        ),
        template=message,
    )


def _template_message(template: FallbackTemplate, values: MergeValues) -> _TemplateMessage:
    """The template with its parameters rendered by the reminder's own renderer."""
    return _TemplateMessage(
        name=template.name,
        language=template.language,
        body_parameters=tuple(
            flatten_parameter(render(parameter, values)) for parameter in template.body_parameters
        ),
    )


def _template_summary(message: _TemplateMessage) -> str:
    """What the audit keeps of a template: its name, language and parameters."""
    summary = f"template {message.name} ({message.language})"
    if message.body_parameters:
        summary += ": " + " | ".join(message.body_parameters)
    return summary


class ConversationActivities:
    """Activities of the conversation workflow, bound to one store and one WhatsApp client."""

    def __init__(
        self,
        *,
        store: Store,
        whatsapp: CloudApiClient,
        pacer: Pacer | None = None,
        clock: AsyncClock | None = None,
        ambiguous_wait: timedelta = DEFAULT_AMBIGUOUS_WAIT,
    ) -> None:
        self._store = store
        self._whatsapp = whatsapp
        self._pacer = pacer or SharedPacer(store.pacing)
        self._clock = clock or awaitable(utc_now)
        self._ambiguous_wait = ambiguous_wait

    @activity.defn
    async def load_settings(self, request: LoadSettingsRequest) -> ReminderSettings:
        """The account's reminder switch, hours and settings version as the database has them,
        with the quiet hours and the zone they are read in for the session's contact."""
        with failures_withheld("load_settings", subject=f"account {request.account_id}"):
            try:
                settings = await self._store.settings.get(account_id=request.account_id)
            except AccountNotFound:
                activity.logger.warning("account %s not found; session paused", request.account_id)
                return DISABLED
            zone = settings.timezone
            if settings.quiet_hours is not None and request.conversation_key is not None:
                # Only with quiet hours: without them the zone changes nothing.
                contacts = await self._store.contacts.by_keys(
                    account_id=request.account_id, conversation_keys=[request.conversation_key]
                )
                contact = contacts.get(request.conversation_key)
                zone = contact_zone(
                    None if contact is None else contact.wa_id, account_timezone=settings.timezone
                )
        return ReminderSettings(
            enabled=settings.enabled,
            expiry_hours=settings.expiry_hours,
            version=settings.version,
            quiet_hours=settings.quiet_hours,
            time_zone=zone,
            fallback_template=settings.fallback_template is not None,
        )

    @activity.defn
    async def send_reminder(self, request: ReminderRequest) -> ReminderResult:
        """One attempt: re-check everything now, then send at most once (or say when to retry).

        The same activity sends the template when the request's ``kind`` says so."""
        with failures_withheld("send_reminder", subject=request.conversation_key):
            result = await self._attempt(request)
        # Reminders by outcome, on the worker's Prometheus endpoint (WORKER_METRICS_ADDRESS).
        activity.metric_meter().create_counter(
            "reminder_decisions", "Reminder attempts of the send activity, by outcome."
        ).add(1, {"outcome": result.outcome.value, "kind": request.kind.value})
        return result

    @activity.defn
    async def record_reply(self, request: RecordReplyRequest) -> bool:
        """Mark the reminder replied (docs/analytics.md#replies); True on its first reply."""
        with failures_withheld("record_reply", subject=request.reminder_id):
            first = await self._store.reminders.record_reply(
                reminder_id=request.reminder_id,
                sent_at=request.sent_at,
                replied_at=request.replied_at,
            )
        if first:
            # Counted once per reminder, whatever the redeliveries and retries: the database
            # said this reply was the reminder's first.
            meter = activity.metric_meter()
            meter.create_counter(
                "reminder_replies", "Reminders the customer replied to inside their window."
            ).add(1)
            meter.create_histogram_float(
                "reminder_reply_seconds",
                "Seconds from a reminder's send to the customer's reply.",
                unit="s",
            ).record((request.replied_at - request.sent_at).total_seconds())
        return first is True

    @activity.defn
    async def close_silence(self, request: CloseSilenceRequest) -> ReminderResult:
        """The silence is over: give its record a final outcome if it is still in flight."""
        with failures_withheld("close_silence", subject=request.conversation_key):
            return await self._close_silence(request)

    async def _close_silence(self, request: CloseSilenceRequest) -> ReminderResult:
        reminders = self._store.reminders
        now = await self._clock()
        record = await reminders.close_silence(
            conversation_key=request.conversation_key,
            last_customer_message_at=request.last_customer_message_at,
            not_sent=_NOT_SENT_WHEN[request.why],
            reason=_CLOSE_REASONS[request.why],
            at=now,
            kind=request.kind,
        )
        if record is None and request.why == "gave_up":
            # The attempts failed before any record was written: the audit still gets one.
            context = await reminders.load_context(
                account_id=request.account_id, conversation_key=request.conversation_key
            )
            if context.account is not None:
                record = await reminders.record_decision(
                    account_id=request.account_id,
                    conversation_key=request.conversation_key,
                    wa_id=None if context.contact is None else context.contact.wa_id,
                    user_id=None if context.contact is None else context.contact.recipient,
                    last_customer_message_at=request.last_customer_message_at,
                    outcome=ReminderOutcome.FAILED,
                    reason=_CLOSE_REASONS["gave_up"],
                    at=now,
                    kind=request.kind,
                )
        if record is None:
            return ReminderResult(outcome=ReminderOutcome.FAILED, reason="no record to settle")
        return _result(record)

    async def _attempt(self, request: ReminderRequest) -> ReminderResult:
        reminders = self._store.reminders
        last, kind = request.last_customer_message_at, request.kind
        now = await self._clock()
        verdicts: list[_Verdict] = []

        def compose(context: ReminderContext) -> Composed | None:
            verdicts.append(_verdict(context, last=last, now=now, kind=kind))
            return verdicts[-1].composed

        # One transaction reads the context and, when it says "send", claims the silence.
        context, claim = await reminders.claim_with_context(
            account_id=request.account_id,
            conversation_key=request.conversation_key,
            last_customer_message_at=last,
            compose=compose,
            at=now,
            kind=kind,
        )
        verdict = verdicts[-1]
        account, contact = context.account, context.contact
        if account is None:
            # No record can name a missing account (the audit belongs to it).
            activity.logger.warning(
                "no account for conversation %s; reminder not sent", request.conversation_key
            )
            return ReminderResult(outcome=ReminderOutcome.FAILED, reason="account not found")
        keys: _RecordKeys = {
            "account_id": request.account_id,
            "conversation_key": request.conversation_key,
            "wa_id": None if contact is None else contact.wa_id,
            "user_id": None if contact is None else contact.recipient,
            "last_customer_message_at": last,
            "kind": kind,
        }
        if claim is None:
            if contact is None:
                activity.logger.warning(
                    "no contact for conversation %s; reminder not sent", request.conversation_key
                )
            return await self._decide_without_sending(verdict, keys, now=now)
        assert contact is not None and verdict.composed is not None  # a claim means "send"
        text = verdict.composed.text
        # A template goes after the window closed: the send margin is the reminder's only.
        closes = window_closes_at(last) if kind is SendKind.REMINDER else None
        record = claim.record
        maybe_sent_before = False
        if not claim.acquired:
            if record.outcome not in (ReminderOutcome.PENDING, ReminderOutcome.AMBIGUOUS):
                return _result(record)  # a retry after the decision was stored
            if record.outcome is ReminderOutcome.PENDING:
                # An earlier attempt died between its claim and its answer: it may have sent.
                # That is an ambiguous attempt, dated from its claim.
                await reminders.mark_ambiguous(
                    reminder_id=record.reminder_id,
                    reason="an earlier attempt stopped mid-send",
                    attempt=record.attempts,
                    at=record.decided_at,
                )
            proof_due = record.decided_at + self._ambiguous_wait
            if now < proof_due:
                return ReminderResult(
                    outcome=ReminderOutcome.AMBIGUOUS,
                    reminder_id=record.reminder_id,
                    reason=record.reason,
                    retry_in_seconds=_seconds(proof_due - now),
                )
            reclaimed = await reminders.reclaim_ambiguous(reminder_id=record.reminder_id, at=now)
            if reclaimed is None:
                # A status webhook proved it meanwhile (or another attempt took it).
                again = await reminders.claim(**keys, text=text, at=now)
                return _result(again.record)
            record, maybe_sent_before = reclaimed, True

        return await self._send(
            reminders,
            record,
            closes=closes,
            maybe_sent_before=maybe_sent_before,
            phone_number_id=account.phone_number_id,
            access_token=account.access_token,
            wa_id=contact.wa_id,
            recipient=contact.recipient,
            text=text,
            template=verdict.template,
        )

    async def _decide_without_sending(
        self, verdict: _Verdict, keys: _RecordKeys, *, now: datetime
    ) -> ReminderResult:
        """Record (where there is something to record) a verdict that sends nothing."""
        reminders = self._store.reminders
        outcome = verdict.outcome
        if outcome is ReminderOutcome.NOT_DUE:
            return ReminderResult(
                outcome=outcome,
                expiry_hours=verdict.expiry_hours,
                retry_in_seconds=verdict.retry_in_seconds,
            )
        if outcome is ReminderOutcome.SKIPPED_WINDOW_CLOSED:
            return await self._too_late(keys)
        assert outcome is not None and verdict.reason is not None
        if verdict.unrecorded:
            return ReminderResult(outcome=outcome, reason=verdict.reason)
        record = await reminders.record_decision(
            **keys,
            outcome=outcome,
            reason=verdict.reason,
            at=now,
            nominal_due_at=verdict.nominal_due_at,
        )
        if outcome is ReminderOutcome.SKIPPED_DISABLED:
            # Whatever the record keeps (an earlier attempt may await its proof), the session
            # pauses.
            return ReminderResult(outcome=outcome, reminder_id=record.reminder_id)
        return _result(record)

    async def _too_late(self, keys: _RecordKeys) -> ReminderResult:
        """Less than the send margin is left: settle the silence without sending."""
        reminders = self._store.reminders
        now = await self._clock()
        reason = "less than a minute of the 24-hour window was left"
        record = await reminders.close_silence(
            conversation_key=keys["conversation_key"],
            last_customer_message_at=keys["last_customer_message_at"],
            not_sent=ReminderOutcome.SKIPPED_WINDOW_CLOSED,
            reason=reason,
            at=now,
            kind=keys["kind"],
        )
        if record is None or record.outcome is ReminderOutcome.SKIPPED_DISABLED:
            record = await reminders.record_decision(
                **keys, outcome=ReminderOutcome.SKIPPED_WINDOW_CLOSED, reason=reason, at=now
            )
        return _result(record)

    async def _paced_out(
        self,
        reminders: Reminders,
        record: ReminderRecord,
        *,
        come_back: float,
        maybe_sent_before: bool,
    ) -> ReminderResult:
        """The number's send queue reaches beyond what one attempt may wait: give the claim
        back, certainly not sent this time, and come back later."""
        now = await self._clock()
        if maybe_sent_before:
            # An earlier attempt may have sent it: it stays "maybe sent", and a status webhook
            # may yet prove it during a new wait for proof.
            await reminders.mark_ambiguous(
                reminder_id=record.reminder_id,
                reason="an earlier attempt may have sent it; the new one was paced out",
                attempt=record.attempts,
                at=now,
            )
            return ReminderResult(
                outcome=ReminderOutcome.AMBIGUOUS,
                reminder_id=record.reminder_id,
                reason=record.reason,
                retry_in_seconds=max(come_back, self._ambiguous_wait.total_seconds()),
            )
        reason = "paced: the business number's send queue was full"
        await reminders.release(
            reminder_id=record.reminder_id, reason=reason, attempt=record.attempts, at=now
        )
        return ReminderResult(
            outcome=ReminderOutcome.RETRYING,
            reminder_id=record.reminder_id,
            reason=reason,
            retry_in_seconds=come_back,
        )

    async def _send(
        self,
        reminders: Reminders,
        record: ReminderRecord,
        *,
        closes: datetime | None,
        maybe_sent_before: bool,
        phone_number_id: str,
        access_token: str,
        wa_id: str | None,
        recipient: str | None,
        text: str,
        template: _TemplateMessage | None,
    ) -> ReminderResult:
        """Send a claimed reminder (or template) and store what Meta answered."""
        attempt = record.attempts
        # The number's send slot, taken at the last moment, so that sends leave spaced however
        # long each claim waited on the database (docs/sending.md#pacing).
        come_back = await self._pacer.wait_turn(record.account_id)
        if come_back is not None:
            return await self._paced_out(
                reminders, record, come_back=come_back, maybe_sent_before=maybe_sent_before
            )
        # The clock once more, right before the request: the claim and the slot may have
        # waited, and nothing may leave with less than the margin left.
        if closes is not None and closes - await self._clock() < SEND_MARGIN:
            record = await reminders.finish(
                reminder_id=record.reminder_id,
                outcome=ReminderOutcome.UNKNOWN
                if maybe_sent_before
                else ReminderOutcome.SKIPPED_WINDOW_CLOSED,
                reason="less than a minute of the 24-hour window was left",
                attempt=attempt,
                at=await self._clock(),
            )
            return _result(record)
        try:
            if template is None:
                sent = await self._whatsapp.send_text(
                    phone_number_id=phone_number_id,
                    access_token=access_token,
                    to=wa_id,
                    recipient=recipient,
                    body=text,
                    callback_data=record.reminder_id,
                )
            else:
                sent = await self._whatsapp.send_template(
                    phone_number_id=phone_number_id,
                    access_token=access_token,
                    to=wa_id,
                    recipient=recipient,
                    name=template.name,
                    language=template.language,
                    body_parameters=template.body_parameters,
                    callback_data=record.reminder_id,
                )
        except WindowClosedError as err:
            record = await reminders.finish(
                reminder_id=record.reminder_id,
                outcome=ReminderOutcome.FAILED_WINDOW_CLOSED,
                reason=err.message,
                error_code=err.code,
                attempt=attempt,
                at=await self._clock(),
            )
        except PermanentSendError as err:
            record = await reminders.finish(
                reminder_id=record.reminder_id,
                outcome=ReminderOutcome.FAILED,
                reason=err.message,
                error_code=err.code,
                attempt=attempt,
                at=await self._clock(),
            )
        except AmbiguousSendError as err:
            # It may have reached Meta: no new attempt until a status proves it, or the wait
            # is over.
            await reminders.mark_ambiguous(
                reminder_id=record.reminder_id,
                reason=f"may have reached WhatsApp: {err.message}",
                error_code=err.code,
                attempt=attempt,
                at=await self._clock(),
            )
            return ReminderResult(
                outcome=ReminderOutcome.AMBIGUOUS,
                reminder_id=record.reminder_id,
                error_code=err.code,
                reason=err.message,
                retry_in_seconds=self._ambiguous_wait.total_seconds(),
            )
        except RetryableSendError as err:
            # Certainly not sent: release the claim, and come back after Meta's Retry-After or
            # a backoff.
            await reminders.release(
                reminder_id=record.reminder_id,
                reason=err.message,
                error_code=err.code,
                attempt=attempt,
                at=await self._clock(),
            )
            return ReminderResult(
                outcome=ReminderOutcome.RETRYING,
                reminder_id=record.reminder_id,
                error_code=err.code,
                reason=err.message,
                retry_in_seconds=err.retry_after
                if err.retry_after is not None
                else _backoff(attempt),
            )
        else:
            record = await reminders.finish(
                reminder_id=record.reminder_id,
                outcome=ReminderOutcome.SENT,
                message_id=sent.message_id,
                attempt=attempt,
                at=await self._clock(),
            )
        return _result(record)
