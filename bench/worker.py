"""The worker process of the benchmarks: the service's worker plus the drain baseline's.

``python -m bench.worker READY_FILE`` builds the service's worker exactly as ``worker.py`` does
(``boot.open_resources``, ``worker.build_activities`` and ``worker.build_worker`` with the
settings propagation, configuration from the environment; the reconciler is left out) and,
next to it on the same client, the baseline worker of ``bench.baseline``. It writes
``READY_FILE`` once both poll, and stops on SIGTERM/SIGINT.

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

from activities.settings import SettingsActivities
from bench.baseline import build_baseline_worker
from boot import open_resources, run_event_loop
from core.config import get_settings
from worker import MAX_CACHED_WORKFLOWS, build_activities, build_worker


async def run(ready_file: Path) -> None:
    settings = get_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async with open_resources(settings) as resources:
        service = build_worker(
            resources.temporal,
            task_queue=settings.temporal_task_queue,
            activities=build_activities(resources, settings),
            settings_activities=SettingsActivities(
                store=resources.store, temporal=resources.temporal
            ),
            sandboxed=settings.workflow_sandbox,
        )
        baseline = build_baseline_worker(
            resources.temporal,
            max_cached_workflows=MAX_CACHED_WORKFLOWS,
            sandboxed=settings.workflow_sandbox,
        )
        async with service, baseline:
            ready_file.write_text("ready\n")
            await stop.wait()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run_event_loop(run(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
