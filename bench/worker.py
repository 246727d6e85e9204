"""The worker process of the benchmarks: the service's worker plus the drain baseline's.

``python -m bench.worker READY_FILE`` builds the service's worker exactly as ``worker.py`` does
(``worker.build_worker`` with the same activity collaborators, configuration from the
environment) and, next to it on the same client, the baseline worker of ``bench.baseline``. It
writes ``READY_FILE`` once both poll, and stops on SIGTERM/SIGINT.

A subprocess, not a task in the benchmark's own process: the load generator must not share an
event loop (and the GIL) with the worker, a real deployment runs it on its own, and the scale
benchmark reads its resident memory.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import httpx

from activities.session import SessionActivities
from bench.baseline import build_baseline_worker
from core.config import get_settings
from core.temporal import connect
from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.repository import Store
from whatsapp.client import CloudApiClient
from worker import MAX_CACHED_WORKFLOWS, build_worker


async def run(ready_file: Path) -> None:
    settings = get_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    await migrate(settings.database_url)
    client = await connect(address=settings.temporal_address, namespace=settings.temporal_namespace)
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
        service = build_worker(
            client, task_queue=settings.temporal_task_queue, activities=activities
        )
        baseline = build_baseline_worker(client, max_cached_workflows=MAX_CACHED_WORKFLOWS)
        async with service, baseline:
            ready_file.write_text("ready\n")
            await stop.wait()
    await engine.dispose()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(run(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
