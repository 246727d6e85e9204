"""The conversation workflow: one run per session, one reminder per silence (docs/sessions.md).

A run starts with the customer's first message (signal-with-start from the webhook), keeps the
conversation's last customer message time ``T``, and waits on a durable timer for
``T + expiry_hours``. When the timer fires it asks the send activity for one attempt, decided at
that moment (settings may have changed). An attempt that cannot decide yet — not due by the
activity's clock, throttled, or possibly sent and waiting for proof — names when to come back,
and the workflow waits on a timer for it (docs/sending.md#attempts-and-waits): it can then
abandon the attempt when the customer writes again. Quiet hours move the timer to the moment
they allow (docs/reaching.md#quiet-hours). The run completes when the 24-hour window closes,
after settling any record still in flight and, when the account set a fallback template,
sending that one template (docs/reaching.md#template-fallback); the next customer message
starts a new run, so one run's history is the story of one session. A customer message after a
sent reminder, inside its window, is that reminder's reply, which the run writes to its record
(docs/analytics.md#replies).

Orchestration only: no I/O, no clocks but ``workflow.now()``. Activities are referenced through
their class (imported passed-through); the activity module itself imports no I/O library.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.conversation import ConversationActivities
    from core import temporal_names as names
    from core.contract import (
        CarriedState,
        CloseReason,
        CloseSilenceRequest,
        ConversationInput,
        CustomerMessage,
        LoadSettingsRequest,
        RecordReplyRequest,
        ReminderRequest,
        ReminderResult,
        ReminderSettings,
        ReplyWatch,
        SessionSnapshot,
        SettingsChanged,
    )
    from core.quiet_hours import reminder_moment, template_moment
    from core.vocabulary import ReminderOutcome, SendKind, SessionState
    from core.window import (
        WINDOW,
        advance_last_message,
        answers_reminder,
        reminder_due_at,
        window_closes_at,
    )

# Enough ids to absorb Meta's redeliveries of recent messages; an older duplicate can no longer
# move T (T only moves forward), so forgetting it costs nothing but a miscount.
SEEN_IDS_KEPT = 1_000

LOAD_SETTINGS_TIMEOUT = timedelta(seconds=10)
# One attempt: the pacer's turn, two short transactions and one HTTP request of at most
# WHATSAPP_TIMEOUT_SECONDS. A worker that dies mid-attempt is noticed after this long.
SEND_ATTEMPT_TIMEOUT = timedelta(seconds=60)
# Failures of the activity itself (database down, worker lost): try again soon, never for long.
# WhatsApp's own answers are not retried here: the activity returns them, and the workflow
# waits on a timer (see _apply).
SEND_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
CLOSE_SILENCE_TIMEOUT = timedelta(seconds=30)
CLOSE_SILENCE_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
# Keeps trying to settle a record while the database is down, but not forever.
CLOSE_SILENCE_GIVE_UP = timedelta(hours=6)
# Outcomes that ask the workflow to come back later for the same silence.
_COME_BACK = frozenset(
    {ReminderOutcome.NOT_DUE, ReminderOutcome.RETRYING, ReminderOutcome.AMBIGUOUS}
)

# workflow.patched ids: a history written before a change replays on the code it was written
# with (tests/workflows/test_replay.py replays such histories).
PATCH_CLOSE_SILENCE_ON_GIVE_UP = "close-silence-on-give-up"
PATCH_WAKE_ON_STALE_SETTINGS = "wake-on-stale-settings"
PATCH_RECORD_REPLIES = "record-replies"
SETTINGS_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# Room for the activity's own "window closed" decision after the last in-window attempt.
SEND_GRACE = timedelta(minutes=2)
# The template's attempts (throttled, or waiting for proof) stop this long after its moment;
# the run then settles its record and completes.
TEMPLATE_GIVE_UP = timedelta(hours=6)
RECORD_REPLY_TIMEOUT = timedelta(seconds=30)
# A reply is kept while the database is down for this long, then given up (and logged).
RECORD_REPLY_GIVE_UP = timedelta(hours=6)


def _fmt(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


@workflow.defn(name=names.CONVERSATION_WORKFLOW)
class ConversationWorkflow:
    """One session of one conversation (business number × customer)."""

    @workflow.init
    def __init__(self, input: ConversationInput) -> None:
        carried = input.carried or CarriedState()
        self._input = input
        self._last_customer_message_at = carried.last_customer_message_at
        # dict keeps insertion order: the oldest ids are dropped first.
        self._seen_ids: dict[str, None] = dict.fromkeys(carried.seen_message_ids)
        self._decided_for = carried.decided_for
        self._outcome = carried.reminder_outcome
        self._message_count = carried.message_count
        # The silence whose send left a record that may still be in flight, and when the
        # next attempt for the current silence may run.
        self._attempted_for = carried.attempted_for
        self._retry_for = carried.retry_for
        self._retry_at = carried.retry_at
        # The reminder this session sent last, and replies to record (docs/analytics.md).
        self._reply_watch = carried.reply_watch
        self._replies_to_record = {r.reminder_id: r for r in carried.replies_to_record}
        self._settings: ReminderSettings | None = None
        self._settings_stale = True
        self._woken = False
        self._state = SessionState.WAITING
        self._due_at: datetime | None = None
        self._template_due_at: datetime | None = None
        self._template_outcome: ReminderOutcome | None = None
        self._published: tuple[object, ...] | None = None

    # -- messages in ------------------------------------------------------------------------

    @workflow.signal(name=names.CUSTOMER_MESSAGE_SIGNAL)
    def customer_message(self, message: CustomerMessage) -> None:
        """The customer wrote: dedupe by message id, move T forward, re-arm."""
        # Older messages of the same POST, folded into this signal by the API, are counted and
        # remembered like messages of their own; they cannot move T past this one. A POST that
        # redelivers the newest message with an older one never seen still counts that one.
        newest_seen = message.message_id in self._seen_ids
        for message_id in (*message.earlier_message_ids, message.message_id):
            if message_id not in self._seen_ids:
                self._seen_ids[message_id] = None
                self._message_count += 1
        while len(self._seen_ids) > SEEN_IDS_KEPT:
            del self._seen_ids[next(iter(self._seen_ids))]
        if newest_seen:
            return  # its time already moved T
        if self._last_customer_message_at is not None:
            self._note_reply(
                min(message.sent_at, message.received_at),
                closes_at=window_closes_at(self._last_customer_message_at),
            )
        last = advance_last_message(
            self._last_customer_message_at,
            sent_at=message.sent_at,
            received_at=message.received_at,
        )
        if last != self._last_customer_message_at:
            self._last_customer_message_at = last
            self._woken = True

    @workflow.signal(name=names.SETTINGS_CHANGED_SIGNAL)
    def settings_changed(self, change: SettingsChanged) -> None:
        """The account's settings were saved: reload them before deciding anything else."""
        known = None if self._settings is None else self._settings.version
        if change.version is not None and known is not None and change.version <= known:
            return  # this run already read that version (or a newer one)
        self._settings_stale = True
        self._woken = True

    @workflow.query(name=names.SESSION_QUERY)
    def session(self) -> SessionSnapshot:
        """The session as this run sees it now."""
        last = self._last_customer_message_at
        return SessionSnapshot(
            account_id=self._input.account_id,
            conversation_key=self._input.conversation_key,
            state=self._state,
            last_customer_message_at=last,
            reminder_due_at=self._due_at,
            window_closes_at=None if last is None else window_closes_at(last),
            reminder_outcome=self._outcome,
            enabled=None if self._settings is None else self._settings.enabled,
            expiry_hours=None if self._settings is None else self._settings.expiry_hours,
            message_count=self._message_count,
            template_due_at=self._template_due_at,
            template_outcome=self._template_outcome,
            reminder_replied_at=None if self._reply_watch is None else self._reply_watch.replied_at,
        )

    # -- the session ------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: ConversationInput) -> SessionSnapshot:
        """Wait, remind at most once per silence, and complete when the window closes."""
        # Signal-with-start delivers the first message with the start; this only guards a run
        # started without one.
        try:
            await workflow.wait_condition(
                lambda: self._last_customer_message_at is not None,
                timeout=WINDOW,
                timeout_summary="first customer message",
            )
        except TimeoutError:
            self._state = SessionState.EXPIRED
            return self.session()

        while True:
            await self._record_replies()
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry_over())

            if self._settings_stale or self._settings is None:
                self._settings_stale = False
                self._settings = await self._load_settings()

            last = self._last_customer_message_at
            assert last is not None
            earlier = self._attempted_for
            if earlier is not None and earlier != last and earlier != self._decided_for:
                # The customer wrote while the earlier silence's send was waiting to be tried
                # again: that send is abandoned, never sent after the reply.
                await self._close_silence(earlier, "customer_replied")
                continue

            now = workflow.now()
            closes = window_closes_at(last)
            if now >= closes:
                if self._attempted_for == last and self._decided_for != last:
                    await self._close_silence(
                        last, "window_closed" if self._settings.enabled else "disabled"
                    )
                self._due_at = None
                if self._settings.enabled and self._settings.fallback_template:
                    try:
                        await self._fallback_template(last, closes)
                    finally:
                        self._template_due_at = None
                    if self._last_customer_message_at != last:
                        continue  # the customer wrote: a new window in this run
                await self._record_replies()  # one may have come in during the steps above
                self._publish(SessionState.EXPIRED)
                return self.session()

            silence_open = self._decided_for != last
            if silence_open and self._settings.enabled:
                due = self._reminder_moment(last, closes, now)
                if self._retry_for == last and self._retry_at is not None:
                    due = max(due, self._retry_at)
                self._due_at = due
                if now >= due:
                    await self._run_reminder_activity(last, closes)
                    continue
                self._publish(SessionState.WAITING)
                deadline = due
                summary = "reminder due" if self._retry_for != last else "send attempt"
            else:
                self._due_at = None
                self._publish(SessionState.PAUSED if silence_open else SessionState.REMINDED)
                deadline, summary = closes, "window closes"

            self._woken = False
            # A settings signal that arrived during the reload above must wake us too.
            wake_on_stale = workflow.patched(PATCH_WAKE_ON_STALE_SETTINGS)
            try:
                await workflow.wait_condition(
                    lambda stale_wakes=wake_on_stale: (  # type: ignore[misc]
                        self._woken or (stale_wakes and self._settings_stale)
                    ),
                    timeout=deadline - now,
                    timeout_summary=summary,
                )
            except TimeoutError:
                pass

    async def _load_settings(self) -> ReminderSettings:
        return await workflow.execute_local_activity_method(
            ConversationActivities.load_settings,
            LoadSettingsRequest(
                account_id=self._input.account_id, conversation_key=self._input.conversation_key
            ),
            start_to_close_timeout=LOAD_SETTINGS_TIMEOUT,
            retry_policy=SETTINGS_RETRY_POLICY,
        )

    def _reminder_moment(self, last: datetime, closes: datetime, now: datetime) -> datetime:
        """When this silence's reminder goes out: its due time, moved by quiet hours; a
        reminder they skip is decided at its due time (docs/reaching.md#quiet-hours)."""
        assert self._settings is not None
        due = reminder_due_at(last, self._settings.expiry_hours)
        moment = reminder_moment(
            due=due,
            last_customer_message_at=last,
            closes=closes,
            now=now,
            quiet=self._settings.quiet_hours,
            zone_name=self._settings.time_zone,
        )
        return due if moment.at is None else moment.at

    async def _fallback_template(self, last: datetime, closes: datetime) -> None:
        """The window closed unanswered: send the one template, at its moment.

        Returns when the template is decided, when its attempts ran out, or as soon as the
        customer writes (which abandons it; the caller carries on with the new window).
        """
        give_up_at: datetime | None = None
        retry_at: datetime | None = None
        attempted = False
        while True:
            assert self._settings is not None
            if self._last_customer_message_at != last:
                if attempted:
                    await self._close_silence(last, "customer_replied", kind=SendKind.TEMPLATE)
                return
            if not (self._settings.enabled and self._settings.fallback_template):
                if attempted:
                    await self._close_silence(last, "disabled", kind=SendKind.TEMPLATE)
                return
            moment = template_moment(
                closes=closes,
                quiet=self._settings.quiet_hours,
                zone_name=self._settings.time_zone,
            )
            if give_up_at is None:
                give_up_at = moment + TEMPLATE_GIVE_UP
            target = moment if retry_at is None else max(moment, retry_at)
            now = workflow.now()
            if now >= give_up_at:
                await self._close_silence(last, "gave_up", kind=SendKind.TEMPLATE)
                return
            if now >= target:
                result = await self._run_template_activity(last, give_up_at=give_up_at)
                if result is None:
                    return  # its attempts kept failing; the record was settled as failed
                if result.outcome not in _COME_BACK:
                    self._template_outcome = result.outcome
                    return
                # Not yet by the activity's clock, throttled, or waiting for proof.
                attempted = attempted or result.outcome is not ReminderOutcome.NOT_DUE
                if result.retry_in_seconds is not None:
                    retry_at = workflow.now() + timedelta(seconds=result.retry_in_seconds)
                continue
            self._template_due_at = target
            self._publish(SessionState.EXPIRED)
            self._woken = False
            try:
                await workflow.wait_condition(
                    lambda: self._woken or self._settings_stale,
                    timeout=target - now,
                    timeout_summary="template due",
                )
            except TimeoutError:
                pass
            if self._settings_stale:
                self._settings_stale = False
                self._settings = await self._load_settings()

    async def _send_attempt(
        self, last: datetime, *, kind: SendKind, within: timedelta
    ) -> ReminderResult:
        """One attempt of the send activity for ``kind`` (its own failures retried ``within``
        this long); raises ``ActivityError`` when they ran out."""
        return await workflow.execute_activity_method(
            ConversationActivities.send_reminder,
            ReminderRequest(
                account_id=self._input.account_id,
                conversation_key=self._input.conversation_key,
                last_customer_message_at=last,
                kind=kind,
            ),
            start_to_close_timeout=SEND_ATTEMPT_TIMEOUT,
            schedule_to_close_timeout=within,
            retry_policy=SEND_RETRY_POLICY,
            summary=f"send {kind.value}",
        )

    async def _run_template_activity(
        self, last: datetime, *, give_up_at: datetime
    ) -> ReminderResult | None:
        """One attempt for the template; None when it kept failing (its record is then settled
        as failed)."""
        kind = SendKind.TEMPLATE
        try:
            return await self._send_attempt(
                last, kind=kind, within=max(give_up_at - workflow.now(), SEND_ATTEMPT_TIMEOUT)
            )
        except ActivityError:
            workflow.logger.warning(
                "template activity gave up", extra={"key": self._input.conversation_key}
            )
            await self._close_silence(last, "gave_up", kind=kind)
            return None

    async def _run_reminder_activity(self, last: datetime, closes: datetime) -> None:
        """Ask the send activity for one attempt for the silence that began at ``last``."""
        try:
            result = await self._send_attempt(
                last, kind=SendKind.REMINDER, within=closes - workflow.now() + SEND_GRACE
            )
        except ActivityError as err:
            # The activity kept failing until the window closed (the database down, a bug):
            # this silence is decided as failed so the loop cannot spin, and its record, if any,
            # is settled.
            workflow.logger.warning(
                "reminder activity gave up", extra={"key": self._input.conversation_key}
            )
            if workflow.patched(PATCH_CLOSE_SILENCE_ON_GIVE_UP):
                self._attempted_for = last
                await self._close_silence(last, "gave_up")
                return
            result = ReminderResult(outcome=ReminderOutcome.FAILED, reason=str(err.cause or err))
        self._apply(last, result)

    def _apply(self, last: datetime, result: ReminderResult) -> None:
        """Fold the activity's decision into the session state."""
        assert self._settings is not None
        if result.outcome in _COME_BACK:
            if result.outcome is ReminderOutcome.NOT_DUE:
                # The database knows better than our copy (a settings signal may be in flight).
                hours = result.expiry_hours or self._settings.expiry_hours
                self._settings = self._settings.model_copy(
                    update={"enabled": True, "expiry_hours": hours}
                )
            else:
                self._attempted_for = last  # its record stays in flight until settled
            if result.retry_in_seconds is not None:
                # Measured by the activity's clock, which may lag ours: waiting at least this
                # long means one attempt per wait, never a loop (docs/sending.md#clock-skew).
                self._retry_for = last
                self._retry_at = workflow.now() + timedelta(seconds=result.retry_in_seconds)
            return
        if result.outcome is ReminderOutcome.SKIPPED_DISABLED:
            self._settings = self._settings.model_copy(update={"enabled": False})
            self._outcome = result.outcome
            return
        # Final for this silence, even if the customer wrote meanwhile (that opened a new one).
        self._decided_for = last
        self._outcome = result.outcome
        if self._attempted_for == last:
            self._attempted_for = None
        self._watch_replies(last, result)

    async def _close_silence(
        self, last: datetime, why: CloseReason, *, kind: SendKind = SendKind.REMINDER
    ) -> None:
        """Settle the record of the silence that began at ``last``, if it is still in flight."""
        try:
            result = await workflow.execute_activity_method(
                ConversationActivities.close_silence,
                CloseSilenceRequest(
                    account_id=self._input.account_id,
                    conversation_key=self._input.conversation_key,
                    last_customer_message_at=last,
                    why=why,
                    kind=kind,
                ),
                start_to_close_timeout=CLOSE_SILENCE_TIMEOUT,
                schedule_to_close_timeout=CLOSE_SILENCE_GIVE_UP,
                retry_policy=CLOSE_SILENCE_RETRY_POLICY,
                summary=f"settle {kind.value} record ({why.replace('_', ' ')})",
            )
        except ActivityError:
            workflow.logger.warning(
                "could not settle the %s record",
                kind.value,
                extra={"key": self._input.conversation_key},
            )
            outcome = ReminderOutcome.UNKNOWN
        else:
            outcome = result.outcome
        if kind is SendKind.TEMPLATE:
            self._template_outcome = outcome
            return
        self._outcome = outcome
        self._decided_for = last if why != "customer_replied" else self._decided_for
        self._attempted_for = None
        if self._retry_for == last:
            self._retry_for = self._retry_at = None
        if outcome is ReminderOutcome.SENT:
            # A status proved an attempt whose silence ended meanwhile: it went out after all.
            self._watch_replies(last, result)

    # -- replies after reminders (docs/analytics.md#replies) --------------------------------

    def _watch_replies(self, last: datetime, result: ReminderResult) -> None:
        """A reminder for the silence that began at ``last`` was sent: watch for its reply."""
        if result.reminder_id is None or result.sent_at is None:
            return  # a result from before replies were recorded
        self._reply_watch = ReplyWatch(reminder_id=result.reminder_id, sent_at=result.sent_at)
        newest = self._last_customer_message_at
        if newest is not None and newest != last:
            # The customer wrote while the send was under way (or waiting for its proof): the
            # newest of those messages may already be the reply.
            self._note_reply(newest, closes_at=window_closes_at(last))

    def _note_reply(self, message_at: datetime, *, closes_at: datetime) -> None:
        """A customer message of ``message_at``, in the window closing at ``closes_at``: the
        reply to the watched reminder if it came after the send (its earliest is kept)."""
        watch = self._reply_watch
        if watch is None or not answers_reminder(
            sent_at=watch.sent_at, message_at=message_at, closes_at=closes_at
        ):
            return
        if watch.replied_at is not None and watch.replied_at <= message_at:
            return  # a later message; the reply is known
        self._reply_watch = watch.model_copy(update={"replied_at": message_at})
        self._replies_to_record[watch.reminder_id] = RecordReplyRequest(
            account_id=self._input.account_id,
            reminder_id=watch.reminder_id,
            sent_at=watch.sent_at,
            replied_at=message_at,
        )
        self._woken = True  # an older message does not move T, but its reply is written now

    async def _record_replies(self) -> None:
        """Write the replies noticed since the last call to their reminders' records."""
        while self._replies_to_record:
            reminder_id, request = next(iter(self._replies_to_record.items()))
            if workflow.patched(PATCH_RECORD_REPLIES):
                try:
                    await workflow.execute_activity_method(
                        ConversationActivities.record_reply,
                        request,
                        start_to_close_timeout=RECORD_REPLY_TIMEOUT,
                        schedule_to_close_timeout=RECORD_REPLY_GIVE_UP,
                        retry_policy=CLOSE_SILENCE_RETRY_POLICY,
                        summary="record the reply to the reminder",
                    )
                except ActivityError:
                    workflow.logger.warning(
                        "could not record a reply", extra={"key": self._input.conversation_key}
                    )
            # An earlier reply may have replaced this one meanwhile: that one is next.
            if self._replies_to_record.get(reminder_id) == request:
                del self._replies_to_record[reminder_id]

    # -- visibility -------------------------------------------------------------------------

    def _publish(self, state: SessionState) -> None:
        """Search attributes and current details, upserted only when they change."""
        self._state = state
        last = self._last_customer_message_at
        closes = None if last is None else window_closes_at(last)
        snapshot = (state, last, self._due_at, closes, self._template_due_at)
        if snapshot == self._published:
            return
        self._published = snapshot
        workflow.upsert_search_attributes(
            [
                names.ACCOUNT_ID.value_set(self._input.account_id),
                names.SESSION_STATE.value_set(state.value),
                names.LAST_CUSTOMER_MESSAGE_AT.value_set(last)
                if last is not None
                else names.LAST_CUSTOMER_MESSAGE_AT.value_unset(),
                names.REMINDER_DUE_AT.value_set(self._due_at)
                if self._due_at is not None
                else names.REMINDER_DUE_AT.value_unset(),
                names.WINDOW_CLOSES_AT.value_set(closes)
                if closes is not None
                else names.WINDOW_CLOSES_AT.value_unset(),
            ]
        )
        workflow.set_current_details(
            f"**{state.value}** · customer last wrote {_fmt(last)} · "
            f"reminder due {_fmt(self._due_at)} · window closes {_fmt(closes)}"
            + ("" if self._outcome is None else f" · last reminder: {self._outcome.value}")
            + (
                ""
                if self._template_due_at is None
                else f" · template due {_fmt(self._template_due_at)}"
            )
        )

    # -- continue-as-new --------------------------------------------------------------------

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._input.max_history_events
        )

    def _carry_over(self) -> ConversationInput:
        return self._input.model_copy(
            update={
                "carried": CarriedState(
                    last_customer_message_at=self._last_customer_message_at,
                    seen_message_ids=list(self._seen_ids),
                    reminder_outcome=self._outcome,
                    decided_for=self._decided_for,
                    message_count=self._message_count,
                    attempted_for=self._attempted_for,
                    retry_for=self._retry_for,
                    retry_at=self._retry_at,
                    reply_watch=self._reply_watch,
                    replies_to_record=list(self._replies_to_record.values()),
                )
            }
        )
