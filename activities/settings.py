"""The settings-propagation activities: tell every running session of an account about a
saved settings version, and record that it was told (docs/sessions.md#settings-changes).

``SettingsActivities`` gets the store and a Temporal client in its constructor (``worker.py``
builds it). Sessions are found with the visibility query of ``core.visibility`` and signalled
one by one, a bounded number at a time: unlike a server-side batch job, every signal's fate is
known here, so a failure makes the activity fail and Temporal retries it. Signalling a session
twice is harmless: it ignores a version it already read.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.failures import failures_withheld
from core import visibility
from core.contract import SettingsChanged, SettingsDelivery
from core.temporal_names import SETTINGS_CHANGED_SIGNAL

if TYPE_CHECKING:
    from temporalio.client import Client

    from store.repository import Store

MAX_CONCURRENT_SIGNALS = 32


class SettingsActivities:
    """Delivery of settings versions to running sessions."""

    def __init__(self, *, store: Store, temporal: Client) -> None:
        self._store = store
        self._temporal = temporal

    @activity.defn
    async def signal_sessions(self, delivery: SettingsDelivery) -> int:
        """Signal ``settings_changed`` with the version to every running session of the account.

        Returns how many were signalled; raises (to be retried) when any could not be.
        """
        client = self._temporal
        change = SettingsChanged(version=delivery.version)
        semaphore = asyncio.Semaphore(MAX_CONCURRENT_SIGNALS)
        failures: list[str] = []

        async def signal(workflow_id: str, run_id: str) -> int:
            async with semaphore:
                handle = client.get_workflow_handle(workflow_id, run_id=run_id)
                try:
                    await handle.signal(SETTINGS_CHANGED_SIGNAL, change)
                except RPCError as err:
                    if err.status == RPCStatusCode.NOT_FOUND:
                        return 0  # completed between the listing and the signal
                    failures.append(err.status.name)
                    return 0
                return 1

        tasks: list[asyncio.Task[int]] = []
        try:
            async for execution in client.list_workflows(
                visibility.account_sessions(delivery.account_id)
            ):
                tasks.append(asyncio.create_task(signal(execution.id, execution.run_id)))
                if len(tasks) % 500 == 0:
                    activity.heartbeat(len(tasks))
            signalled = sum(await asyncio.gather(*tasks))
        except RPCError as err:
            if err.status == RPCStatusCode.UNIMPLEMENTED:
                # A server without visibility (the time-skipping test server): nothing to list,
                # and retrying would not change that. The fire-time check still applies.
                raise ApplicationError(
                    "this Temporal server cannot list workflows",
                    type="NoVisibility",
                    non_retryable=True,
                ) from err
            raise
        finally:
            for task in tasks:
                task.cancel()
        if failures:
            raise ApplicationError(
                f"{len(failures)} of {len(tasks)} sessions could not be signalled "
                f"({', '.join(sorted(set(failures)))})",
                type="SignalsFailed",
            )
        activity.logger.info(
            "settings v%d of %s: %d running session(s) signalled",
            delivery.version,
            delivery.account_id,
            signalled,
        )
        return signalled

    @activity.defn
    async def mark_settings_delivered(self, delivery: SettingsDelivery) -> None:
        """Every running session knows the version: the reconciler may forget it."""
        with failures_withheld("mark_settings_delivered", subject=delivery.account_id):
            await self._store.settings.mark_delivered(
                account_id=delivery.account_id, version=delivery.version
            )
