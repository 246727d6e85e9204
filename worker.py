"""The Temporal worker: runs the conversation workflows and their activities.

``python worker.py`` opens what it runs on with ``boot.open_resources`` (migrations, Temporal
client with the pydantic data converter, search attributes, store, httpx client), builds the
activity classes with their collaborators and runs the conversation and settings-propagation
workflows until SIGTERM or SIGINT. On those it stops taking new tasks and gives the ones in
flight ``WORKER_SHUTDOWN_GRACE_SECONDS`` to finish, so a send under way completes and records
its answer.

Beside the worker runs the settings reconciler: at start and every
``SETTINGS_RECONCILE_SECONDS`` it (re)starts the delivery of every settings version some
running session may not know yet (docs/sessions.md#settings-changes).
With ``AUDIT_RETENTION_DAYS`` above 0 it also purges, at start and daily, the final reminder
audit records older than that (``store.retention``; SECURITY.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.conversation import ConversationActivities
from activities.hand_over import HandOverActivities
from activities.settings import SettingsActivities
from activities.throttle import SharedPacer
from boot import Resources, open_resources, run_event_loop
from core.config import Settings, get_settings
from core.contract import SettingsDelivery
from core.redact import withheld
from core.temporal import deliver_settings
from whatsapp.client import CloudApiClient
from workflows.conversation import ConversationWorkflow
from workflows.hand_over import WebhookHandOverWorkflow
from workflows.settings_propagation import SettingsPropagationWorkflow

logger = logging.getLogger("worker")

# Bounds the worker's memory by its cache, not by the number of open sessions
# (docs/operating.md#scaling-out).
MAX_CACHED_WORKFLOWS = 2_000
# How often the worker purges reminder audit records past AUDIT_RETENTION_DAYS.
AUDIT_PURGE_INTERVAL_SECONDS = 24 * 60 * 60


def build_activities(resources: Resources, settings: Settings) -> ConversationActivities:
    """The conversation's activities over ``resources``, sending to the configured Graph API."""
    return ConversationActivities(
        store=resources.store,
        whatsapp=CloudApiClient(
            resources.http,
            base_url=settings.whatsapp_api_base_url,
            api_version=settings.whatsapp_api_version,
        ),
        pacer=SharedPacer(
            resources.store.pacing,
            rate_per_second=settings.send_rate_per_second,
            burst=settings.send_burst,
        ),
        ambiguous_wait=timedelta(seconds=settings.whatsapp_ambiguous_wait_seconds),
    )


def build_worker(
    client: Client,
    *,
    task_queue: str,
    activities: ConversationActivities,
    settings_activities: SettingsActivities | None = None,
    sandboxed: bool = True,
    **options: object,
) -> Worker:
    """The worker with this project's workflows and the bound activity methods.

    Without ``settings_activities`` it runs the conversation workflow only (tests that drive
    settings changes themselves). ``sandboxed`` (the default, and what every test runs) keeps
    the SDK's workflow sandbox; the production worker follows ``WORKFLOW_SANDBOX``.
    """
    # The hand-over of large webhook POSTs runs on the conversations' queue: its activity
    # signals the conversation workflows there (docs/sessions.md#a-large-webhook-post).
    workflows: list[type] = [ConversationWorkflow, WebhookHandOverWorkflow]
    methods: list[Callable[..., Any]] = [
        activities.load_settings,
        activities.send_reminder,
        activities.close_silence,
        activities.record_reply,
        HandOverActivities(temporal=client).hand_over,
    ]
    if settings_activities is not None:
        workflows.append(SettingsPropagationWorkflow)
        methods += [
            settings_activities.signal_sessions,
            settings_activities.mark_settings_delivered,
        ]
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=methods,
        max_cached_workflows=MAX_CACHED_WORKFLOWS,
        workflow_runner=SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner(),
        **options,  # type: ignore[arg-type]
    )


async def reconcile_settings(resources: Resources, *, task_queue: str) -> int:
    """Start the delivery of every settings version not yet delivered; returns how many."""
    pending = await resources.store.settings.undelivered()
    for account_id, version in pending:
        await deliver_settings(
            resources.temporal,
            task_queue=task_queue,
            delivery=SettingsDelivery(account_id=account_id, version=version),
        )
    if pending:
        logger.info("reconciler: delivery of %d settings version(s) (re)started", len(pending))
    return len(pending)


async def reconcile_forever(
    resources: Resources, *, task_queue: str, interval: float, stop: asyncio.Event
) -> None:
    """``reconcile_settings`` now and every ``interval`` seconds until ``stop``; a failed round
    (Temporal or the database unavailable) is logged and tried again next time."""
    while not stop.is_set():
        try:
            await reconcile_settings(resources, task_queue=task_queue)
        except Exception as err:  # noqa: BLE001 - the next round retries whatever went wrong
            logger.warning("settings reconciler: round failed; retrying: %s", withheld(err))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def purge_audit_forever(
    resources: Resources, *, retention_days: int, interval: float, stop: asyncio.Event
) -> None:
    """Delete final reminder audit records older than ``retention_days`` now and every
    ``interval`` seconds until ``stop``; a failed round is logged and tried again next time.

    A loop beside the worker rather than a Temporal Schedule: like the settings reconciler it
    is idempotent (every worker may run it, two at once delete nothing twice), needs nothing
    registered in Temporal, and starts with the worker, so a fresh deployment purges at once.
    """
    retention = timedelta(days=retention_days)
    while not stop.is_set():
        try:
            deleted = await resources.store.retention.purge(retention=retention)
            if deleted:
                logger.info(
                    "audit retention: %d record(s) older than %d days deleted",
                    deleted,
                    retention_days,
                )
        except Exception as err:  # noqa: BLE001 - the next round retries whatever went wrong
            logger.warning("audit retention: purge failed; retrying: %s", withheld(err))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def run_processes(
    count: int, metrics_address: str | None, *, command: Sequence[str] | None = None
) -> int:
    """Run ``count`` worker processes until SIGTERM/SIGINT; returns the exit code.

    The signal is passed on, and each process drains its own in-flight work. When one process
    ends on its own (a crash), the others are stopped too and its exit code is returned, so the
    supervisor (compose, Kubernetes, systemd) restarts the whole group instead of running it
    short. Process ``i`` serves metrics on the configured port + ``i``. ``command`` replaces
    ``python -m worker`` (tests).
    """
    argv = list(command or [sys.executable, "-m", "worker"])
    children: list[subprocess.Popen[bytes]] = []
    for index in range(count):
        env = {**os.environ, "WORKER_PROCESSES": "1"}
        if metrics_address is not None:
            host, _, port = metrics_address.rpartition(":")
            env["WORKER_METRICS_ADDRESS"] = f"{host}:{int(port) + index}"
        children.append(subprocess.Popen(argv, env=env))
    logger.info("running %d worker processes: %s", count, [c.pid for c in children])

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    first = next(child for child in children if child.poll() is not None)
    forward(signal.SIGTERM, None)
    codes = [child.wait() for child in children]
    logger.info("worker processes ended: %s", codes)
    return first.returncode or max(codes)


# Buckets of the reply-time histogram: a minute to the whole window.
REPLY_SECONDS_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0)


def _runtime(settings: Settings) -> Runtime | None:
    """A runtime exporting Prometheus metrics when an address is configured."""
    if settings.worker_metrics_address is None:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=settings.worker_metrics_address,
                # Replies come minutes to hours after the reminder, not milliseconds.
                histogram_bucket_overrides={"reminder_reply_seconds": REPLY_SECONDS_BUCKETS},
            )
        )
    )


async def run(settings: Settings, *, stop: asyncio.Event) -> None:
    """Run the worker until ``stop`` is set."""
    async with open_resources(settings, runtime=_runtime(settings)) as resources:
        worker = build_worker(
            resources.temporal,
            task_queue=settings.temporal_task_queue,
            activities=build_activities(resources, settings),
            settings_activities=SettingsActivities(
                store=resources.store, temporal=resources.temporal
            ),
            sandboxed=settings.workflow_sandbox,
            graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_grace_seconds),
        )
        logger.info("worker polling task queue %s", settings.temporal_task_queue)
        async with worker:
            reconciler = asyncio.create_task(
                reconcile_forever(
                    resources,
                    task_queue=settings.temporal_task_queue,
                    interval=settings.settings_reconcile_seconds,
                    stop=stop,
                )
            )
            loops = [reconciler]
            if settings.audit_retention_days > 0:  # 0: keep the audit trail forever
                loops.append(
                    asyncio.create_task(
                        purge_audit_forever(
                            resources,
                            retention_days=settings.audit_retention_days,
                            interval=AUDIT_PURGE_INTERVAL_SECONDS,
                            stop=stop,
                        )
                    )
                )
            await stop.wait()
            logger.info("shutting down: finishing in-flight tasks")
            await asyncio.gather(*loops)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run until SIGTERM/SIGINT (``WORKER_PROCESSES`` > 1: that many processes)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    if settings.worker_processes > 1:
        sys.exit(run_processes(settings.worker_processes, settings.worker_metrics_address))
    # httpx logs every request at INFO: one line per reminder is noise (and CPU) at volume;
    # the audit trail already records each send.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run(settings, stop=stop)

    run_event_loop(_main())


if __name__ == "__main__":
    main()
