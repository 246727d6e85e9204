"""The settings-propagation workflow: one per account, delivering saved settings versions to
every running session until all have them (docs/sessions.md#settings-changes).

Saving settings writes a new version in the same transaction; the API then starts (or signals)
this workflow, and a reconciler in the worker starts it for any version still undelivered, so
a version reaches the sessions even when the API dies right after the save. Each version is
delivered in two passes: one at once, and one a little later for sessions that were starting
while the settings were saved and became visible to the listing only afterwards. Then it is
recorded as delivered. Orchestration only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.settings import SettingsActivities
    from core import temporal_names as names
    from core.contract import SettingsDelivery

# Visibility is eventually consistent: a session started around the save shows up in listings
# within seconds on every store Temporal supports.
SECOND_PASS_AFTER = timedelta(seconds=10)
SIGNAL_PASS_TIMEOUT = timedelta(minutes=10)
SIGNAL_PASS_HEARTBEAT = timedelta(minutes=2)
MARK_TIMEOUT = timedelta(seconds=30)
RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["NoVisibility"],
)


@workflow.defn(name=names.SETTINGS_PROPAGATION_WORKFLOW)
class SettingsPropagationWorkflow:
    """Delivers an account's newest settings version to its running sessions."""

    @workflow.init
    def __init__(self, delivery: SettingsDelivery) -> None:
        self._account_id = delivery.account_id
        self._target = delivery.version
        self._delivered = 0

    @workflow.signal(name=names.SETTINGS_SAVED_SIGNAL)
    def settings_saved(self, delivery: SettingsDelivery) -> None:
        """A newer version was saved while this run delivers: deliver that one too."""
        self._target = max(self._target, delivery.version)

    @workflow.query(name=names.DELIVERED_QUERY)
    def delivered(self) -> int:
        """The newest version this run has delivered to every running session."""
        return self._delivered

    @workflow.run
    async def run(self, delivery: SettingsDelivery) -> int:
        """Deliver until no newer version is waiting; returns the last version delivered."""
        while self._delivered < self._target:
            version = SettingsDelivery(account_id=self._account_id, version=self._target)
            try:
                await self._signal_pass(version, summary=f"settings v{version.version}")
                await workflow.sleep(SECOND_PASS_AFTER, summary="sessions that started late")
                await self._signal_pass(
                    version, summary=f"settings v{version.version}, second pass"
                )
            except ActivityError as err:
                # Only a server without visibility gets here (every other failure is retried):
                # the sessions still meet the new settings at their fire-time check.
                workflow.logger.warning("settings not signalled: %s", err.cause or err)
            await workflow.execute_activity_method(
                SettingsActivities.mark_settings_delivered,
                version,
                start_to_close_timeout=MARK_TIMEOUT,
                retry_policy=RETRY_POLICY,
            )
            self._delivered = version.version
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._delivered

    async def _signal_pass(self, version: SettingsDelivery, *, summary: str) -> None:
        await workflow.execute_activity_method(
            SettingsActivities.signal_sessions,
            version,
            start_to_close_timeout=SIGNAL_PASS_TIMEOUT,
            heartbeat_timeout=SIGNAL_PASS_HEARTBEAT,
            retry_policy=RETRY_POLICY,
            summary=summary,
        )
