"""The conversation workflow: one run per session, one reminder per silence (docs/sessions.md).

A run starts with the customer's first message (signal-with-start from the webhook), keeps the
conversation's last customer message time ``T``, and waits on a durable timer for
``T + expiry_hours``. When the timer fires it asks the reminder activity to decide at that moment
(settings may have changed). The run completes when the 24-hour window closes; the next customer
message starts a new run, so one run's history is the story of one session.

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
        ConversationInput,
        CustomerMessage,
        LoadSettingsRequest,
        ReminderRequest,
        ReminderResult,
        ReminderSettings,
        SessionSnapshot,
        SettingsChanged,
    )
    from core.vocabulary import ReminderOutcome, SessionState
    from core.window import WINDOW, advance_last_message, reminder_due_at, window_closes_at

# Enough ids to absorb Meta's redeliveries of recent messages; an older duplicate can no longer
# move T (T only moves forward), so forgetting it costs nothing but a miscount.
SEEN_IDS_KEPT = 1_000

LOAD_SETTINGS_TIMEOUT = timedelta(seconds=10)
SEND_ATTEMPT_TIMEOUT = timedelta(seconds=60)
# WhatsApp 5xx / 429 / throttling: back off, but never so far that a reminder drifts for long.
SEND_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
SETTINGS_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# Room for the activity's own "window closed" decision after the last in-window attempt.
SEND_GRACE = timedelta(minutes=2)


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
        self._settings: ReminderSettings | None = None
        self._settings_stale = True
        self._woken = False
        self._state = SessionState.WAITING
        self._due_at: datetime | None = None
        self._published: tuple[object, ...] | None = None

    # -- messages in ------------------------------------------------------------------------

    @workflow.signal(name=names.CUSTOMER_MESSAGE_SIGNAL)
    def customer_message(self, message: CustomerMessage) -> None:
        """The customer wrote: dedupe by message id, move T forward, re-arm."""
        if message.message_id in self._seen_ids:
            return
        self._seen_ids[message.message_id] = None
        while len(self._seen_ids) > SEEN_IDS_KEPT:
            del self._seen_ids[next(iter(self._seen_ids))]
        self._message_count += 1
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
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry_over())

            if self._settings_stale or self._settings is None:
                self._settings_stale = False
                self._settings = await workflow.execute_local_activity_method(
                    ConversationActivities.load_settings,
                    LoadSettingsRequest(account_id=input.account_id),
                    start_to_close_timeout=LOAD_SETTINGS_TIMEOUT,
                    retry_policy=SETTINGS_RETRY_POLICY,
                )

            last = self._last_customer_message_at
            assert last is not None
            now = workflow.now()
            closes = window_closes_at(last)
            if now >= closes:
                self._due_at = None
                self._publish(SessionState.EXPIRED)
                return self.session()

            silence_open = self._decided_for != last
            if silence_open and self._settings.enabled:
                due = reminder_due_at(last, self._settings.expiry_hours)
                self._due_at = due
                if now >= due:
                    await self._run_reminder_activity(last, closes)
                    continue
                self._publish(SessionState.WAITING)
                deadline, summary = due, "reminder due"
            else:
                self._due_at = None
                self._publish(SessionState.PAUSED if silence_open else SessionState.REMINDED)
                deadline, summary = closes, "window closes"

            self._woken = False
            try:
                await workflow.wait_condition(
                    lambda: self._woken,
                    timeout=deadline - now,
                    timeout_summary=summary,
                )
            except TimeoutError:
                pass

    async def _run_reminder_activity(self, last: datetime, closes: datetime) -> None:
        """Ask the send activity to decide (and maybe send) for the silence begun at ``last``."""
        remaining = closes - workflow.now()
        try:
            result = await workflow.execute_activity_method(
                ConversationActivities.send_reminder,
                ReminderRequest(
                    account_id=self._input.account_id,
                    conversation_key=self._input.conversation_key,
                    last_customer_message_at=last,
                ),
                start_to_close_timeout=SEND_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=remaining + SEND_GRACE,
                retry_policy=SEND_RETRY_POLICY,
                summary="send reminder",
            )
        except ActivityError as err:
            # Retries ran out (the window closed meanwhile) or a bug: this silence is decided as
            # failed so the loop cannot spin; the activity's audit record says what happened.
            workflow.logger.warning(
                "reminder activity gave up", extra={"key": self._input.conversation_key}
            )
            result = ReminderResult(outcome=ReminderOutcome.FAILED, reason=str(err.cause or err))
        self._apply(last, result)

    def _apply(self, last: datetime, result: ReminderResult) -> None:
        """Fold the activity's decision into the session state."""
        assert self._settings is not None
        if result.outcome is ReminderOutcome.NOT_DUE:
            # The database knows better than our copy (a settings signal may still be in flight).
            hours = result.expiry_hours or self._settings.expiry_hours
            self._settings = ReminderSettings(enabled=True, expiry_hours=hours)
            return
        if result.outcome is ReminderOutcome.SKIPPED_DISABLED:
            self._settings = ReminderSettings(
                enabled=False, expiry_hours=self._settings.expiry_hours
            )
            self._outcome = result.outcome
            return
        # Final for this silence, even if the customer wrote meanwhile (that opened a new one).
        self._decided_for = last
        self._outcome = result.outcome

    # -- visibility -------------------------------------------------------------------------

    def _publish(self, state: SessionState) -> None:
        """Search attributes and current details, upserted only when they change."""
        self._state = state
        last = self._last_customer_message_at
        closes = None if last is None else window_closes_at(last)
        snapshot = (state, last, self._due_at, closes)
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
                )
            }
        )
