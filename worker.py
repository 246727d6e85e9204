"""The Temporal worker: runs the conversation workflows and their activities.

``python worker.py`` connects with the pydantic data converter, applies database migrations,
registers the search attributes where missing, builds the activity class with its collaborators
and runs until SIGTERM or SIGINT, letting in-flight activities finish.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence

import httpx
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.session import SessionActivities
from core.config import Settings, get_settings
from core.temporal import connect, ensure_search_attributes
from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.repository import Store
from whatsapp.client import CloudApiClient
from workflows.conversation import ConversationWorkflow

logger = logging.getLogger("worker")

# Bounds the worker's memory by its cache, not by the number of open sessions (SPEC §9).
MAX_CACHED_WORKFLOWS = 2_000


def build_worker(
    client: Client, *, task_queue: str, activities: SessionActivities, **options: object
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
    await migrate(settings.database_url)
    client = await connect(
        address=settings.temporal_address,
        namespace=settings.temporal_namespace,
        runtime=_runtime(settings),
    )
    await ensure_search_attributes(client, namespace=settings.temporal_namespace)
    engine = create_engine(settings.database_url)
    async with httpx.AsyncClient(timeout=settings.whatsapp_timeout_seconds) as http:
        activities = SessionActivities(
            store=Store(create_sessionmaker(engine)),
            whatsapp=CloudApiClient(
                http,
                base_url=settings.whatsapp_api_base_url,
                api_version=settings.whatsapp_api_version,
            ),
        )
        worker = build_worker(
            client, task_queue=settings.temporal_task_queue, activities=activities
        )
        logger.info("worker polling task queue %s", settings.temporal_task_queue)
        async with worker:
            await stop.wait()
            logger.info("shutting down: finishing in-flight tasks")
    await engine.dispose()


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
