"""The Temporal worker: runs the conversation workflows and their activities.

``python worker.py`` opens what it runs on with ``boot.open_resources`` (migrations, Temporal
client with the pydantic data converter, search attributes, store, httpx client), builds the
activity class with its collaborators and runs until SIGTERM or SIGINT, letting in-flight
activities finish.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.conversation import ConversationActivities
from boot import Resources, open_resources
from core.config import Settings, get_settings
from whatsapp.client import CloudApiClient
from workflows.conversation import ConversationWorkflow

logger = logging.getLogger("worker")

# Bounds the worker's memory by its cache, not by the number of open sessions
# (docs/operating.md#scaling-out).
MAX_CACHED_WORKFLOWS = 2_000


def build_activities(resources: Resources, settings: Settings) -> ConversationActivities:
    """The conversation's activities over ``resources``, sending to the configured Graph API."""
    return ConversationActivities(
        store=resources.store,
        whatsapp=CloudApiClient(
            resources.http,
            base_url=settings.whatsapp_api_base_url,
            api_version=settings.whatsapp_api_version,
        ),
    )


def build_worker(
    client: Client, *, task_queue: str, activities: ConversationActivities, **options: object
) -> Worker:
    """The worker with this project's workflow and the bound activity methods."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ConversationWorkflow],
        activities=[activities.load_settings, activities.send_reminder],
        max_cached_workflows=MAX_CACHED_WORKFLOWS,
        **options,  # type: ignore[arg-type]
    )


def _runtime(settings: Settings) -> Runtime | None:
    """A runtime exporting Prometheus metrics when an address is configured."""
    if settings.worker_metrics_address is None:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=settings.worker_metrics_address)
        )
    )


async def run(settings: Settings, *, stop: asyncio.Event) -> None:
    """Run the worker until ``stop`` is set."""
    async with open_resources(settings, runtime=_runtime(settings)) as resources:
        worker = build_worker(
            resources.temporal,
            task_queue=settings.temporal_task_queue,
            activities=build_activities(resources, settings),
        )
        logger.info("worker polling task queue %s", settings.temporal_task_queue)
        async with worker:
            await stop.wait()
            logger.info("shutting down: finishing in-flight tasks")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run until SIGTERM/SIGINT."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request at INFO: one line per reminder is noise (and CPU) at volume;
    # the audit trail already records each send.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run(get_settings(), stop=stop)

    asyncio.run(_main())


if __name__ == "__main__":
    main()
