"""worker.py as a process: starts against a real server, polls, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


async def test_worker_starts_and_stops_cleanly_on_sigterm(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    metrics_port = free_port()
    env = os.environ | {
        "TEMPORAL_ADDRESS": ts_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": "worker-process-test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}",
        "PYTHONUNBUFFERED": "1",
        "WORKER_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "worker.py",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output: list[str] = []
    async with asyncio.timeout(60):
        while True:
            line = (await process.stdout.readline()).decode()
            assert line, f"worker exited early: {''.join(output)}"
            output.append(line)
            if "worker polling task queue" in line:
                break
    assert (tmp_path / "worker.db").exists()  # migrations ran at start-up
    async with httpx.AsyncClient() as http:
        scraped = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert scraped.status_code == 200
    assert "temporal_" in scraped.text  # the SDK's worker metrics, next to reminder_decisions

    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        rest = (await process.stdout.read()).decode()
        code = await process.wait()
    assert code == 0, "".join(output) + rest
    assert "shutting down" in rest
