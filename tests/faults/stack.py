"""The service as separate processes, for faults that are processes dying: the API
(``python -m api``) and the worker (``python worker.py``) as subprocesses that a test can
SIGKILL or SIGTERM and start again, on the session's Temporal dev server, a SQLite file, and the
stand-in Graph API served in the test's own process — which, like Meta, posts signed status
webhooks for every message it accepts back to the API.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from temporalio.client import Client

from core.conversation_key import conversation_key
from core.vocabulary import IN_FLIGHT_OUTCOMES
from store.db import create_engine, create_sessionmaker
from store.models import ReminderRow
from tests.support import eventually, free_port, serve
from whatsapp.sandbox import SandboxMessage, StatusWebhooks, create_sandbox_app, sandbox_state
from whatsapp.signature import SIGNATURE_HEADER, sign

ROOT = Path(__file__).resolve().parents[2]
API_TOKEN = "faults-api-token"
APP_SECRET = "faults-app-secret"
KEY_SECRET = "faults-key-secret"
ACCESS_TOKEN = "EAAG-faults"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
# Proof comes within a second here (the stand-in's statuses), so the wait can be short.
AMBIGUOUS_WAIT_SECONDS = 3
TEXT = "Hi {contact_firstname}, still there?"


class Child:
    """One of the service's processes, its output in a log file."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self._argv = argv
        self._env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self._argv, cwd=ROOT, env=self._env, stdout=out, stderr=subprocess.STDOUT
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def kill(self, signum: int = signal.SIGKILL, *, timeout: float = 60.0) -> int:
        """Send ``signum`` and wait for the exit; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return await asyncio.to_thread(self.proc.wait, timeout)

    async def stop(self) -> None:
        if self.alive():
            try:
                await self.kill(signal.SIGTERM, timeout=40)
            except subprocess.TimeoutExpired:
                await self.kill(signal.SIGKILL)


@dataclass
class ProcessStack:
    """Handles on the running service and what it sent."""

    tmp: Path
    temporal: Client
    database_url: str
    api_url: str
    api: Child
    worker: Child
    sandbox: FastAPI
    http: httpx.AsyncClient
    # Every worker process, ``worker`` first, each with its Prometheus endpoint.
    workers: list[Child] = field(default_factory=list)
    metrics_urls: list[str] = field(default_factory=list)
    account_id: str = field(default_factory=lambda: f"faults-{uuid.uuid4().hex[:8]}")
    phone_number_id: str = field(default_factory=lambda: str(uuid.uuid4().int)[:15])

    async def start_api(self) -> None:
        self.api.start()

        async def ready() -> bool:
            try:
                return (await self.http.get("/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, bool, timeout=60, interval=0.2)

    async def start_worker(self, worker: Child | None = None) -> None:
        worker = worker or self.worker
        started = _polling_lines(worker)
        worker.start()

        async def polling() -> bool:
            assert worker.alive(), worker.output()[-2000:]
            return _polling_lines(worker) > started

        await eventually(polling, bool, timeout=60, interval=0.2)

    async def sent_by_each_worker(self) -> list[int]:
        """Reminders each worker process counted as sent (its ``reminder_decisions``)."""
        counts: list[int] = []
        for url in self.metrics_urls:
            scraped = (await self.http.get(url)).text.splitlines()
            counts.append(
                sum(
                    int(float(line.rsplit(" ", 1)[1]))
                    for line in scraped
                    if line.startswith("reminder_decisions{") and 'outcome="sent"' in line
                )
            )
        return counts

    async def create_account(self, *, expiry_hours: int) -> None:
        response = await self.http.put(
            f"/v1/accounts/{self.account_id}",
            json={
                "company_name": "Faults Inc.",
                "phone_number_id": self.phone_number_id,
                "access_token": ACCESS_TOKEN,
            },
        )
        assert response.status_code == 201, response.text
        response = await self.http.put(
            f"/v1/accounts/{self.account_id}/session-settings",
            json={"enabled": True, "expiry_hours": expiry_hours, "message": TEXT},
        )
        assert response.status_code == 200, response.text

    def webhook(self, messages: list[tuple[str, str, int]]) -> tuple[bytes, dict[str, str]]:
        """A signed webhook with one text message per ``(wa_id, wamid, unix timestamp)``."""
        value: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550000000",
                "phone_number_id": self.phone_number_id,
            },
            "contacts": [
                {"profile": {"name": "Pat Doe"}, "wa_id": wa_id} for wa_id, _, _ in messages
            ],
            "messages": [
                {
                    "from": wa_id,
                    "id": wamid,
                    "timestamp": str(ts),
                    "type": "text",
                    "text": {"body": "hi"},
                }
                for wa_id, wamid, ts in messages
            ],
        }
        payload = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "waba", "changes": [{"field": "messages", "value": value}]}],
        }
        body = json.dumps(payload).encode()
        return body, {
            SIGNATURE_HEADER: sign(APP_SECRET.encode(), body),
            "Content-Type": "application/json",
        }

    def sent(self) -> list[SandboxMessage]:
        return [
            m
            for m in sandbox_state(self.sandbox).messages
            if m.phone_number_id == self.phone_number_id
        ]

    def key(self, wa_id: str) -> str:
        return conversation_key(secret=KEY_SECRET, account_id=self.account_id, wa_id=wa_id)

    async def records(self) -> dict[str, int]:
        """The account's reminder records, counted by outcome (straight from the table)."""
        engine = create_engine(self.database_url)
        try:
            async with create_sessionmaker(engine)() as tx:
                rows = await tx.execute(
                    select(ReminderRow.outcome, func.count())
                    .where(ReminderRow.account_id == self.account_id)
                    .group_by(ReminderRow.outcome)
                )
                return dict(rows.tuples().all())
        finally:
            await engine.dispose()

    async def interrupted(self) -> int:
        """Records that show an attempt cut off mid-send: retaken, or waiting for proof."""
        engine = create_engine(self.database_url)
        try:
            async with create_sessionmaker(engine)() as tx:
                count = await tx.scalar(
                    select(func.count()).where(
                        ReminderRow.account_id == self.account_id,
                        (ReminderRow.attempts > 1)
                        | ReminderRow.reason.contains("stopped mid-send"),
                    )
                )
                return int(count or 0)
        finally:
            await engine.dispose()

    async def settled(self, expected: int) -> dict[str, int]:
        """Wait until ``expected`` records exist and none is in flight; returns them by outcome."""

        async def probe() -> dict[str, int]:
            return await self.records()

        def done(records: dict[str, int]) -> bool:
            in_flight = sum(n for outcome, n in records.items() if outcome in IN_FLIGHT_OUTCOMES)
            return sum(records.values()) == expected and in_flight == 0

        return await eventually(probe, done, timeout=240, interval=1.0)


def _polling_lines(worker: Child) -> int:
    return worker.output().count("worker polling task queue") if worker.log.exists() else 0


@asynccontextmanager
async def process_stack(
    temporal: Client,
    tmp: Path,
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    status_webhooks: bool = True,
) -> AsyncIterator[ProcessStack]:
    """The API and ``workers`` worker processes, started, with ``env`` on top of the stack's
    environment; all stopped afterwards. Without ``status_webhooks`` the stand-in accepts
    messages and reports nothing back."""
    async with AsyncExitStack() as stack:
        api_port = free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        sandbox = create_sandbox_app(
            access_tokens={ACCESS_TOKEN},
            status_webhooks=StatusWebhooks(
                url=f"{api_url}/webhooks/whatsapp", app_secret=APP_SECRET.encode()
            )
            if status_webhooks
            else None,
        )
        sandbox_url = await stack.enter_async_context(serve(sandbox))
        database_url = f"sqlite+aiosqlite:///{tmp / 'sessions.db'}"
        environment = {
            **os.environ,
            "ENVIRONMENT": "test",
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": temporal.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": temporal.namespace,
            "TEMPORAL_TASK_QUEUE": f"faults-{uuid.uuid4().hex[:8]}",
            "API_TOKEN": API_TOKEN,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": "faults-verify",
            "WHATSAPP_API_BASE_URL": sandbox_url,
            "CONVERSATION_KEY_SECRET": KEY_SECRET,
            "WHATSAPP_AMBIGUOUS_WAIT_SECONDS": str(AMBIGUOUS_WAIT_SECONDS),
            "SETTINGS_RECONCILE_SECONDS": "2",
            "API_HOST": "127.0.0.1",
            "API_PORT": str(api_port),
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        python = sys.executable
        api = Child("api", [python, "-m", "api"], env=environment, log=tmp / "api.log")
        stack.push_async_callback(api.stop)
        children: list[Child] = []
        metrics_urls: list[str] = []
        for n in range(workers):
            child_env = dict(environment)
            if workers > 1:  # to tell their work apart; one worker is restarted on its port
                metrics = f"127.0.0.1:{free_port()}"
                child_env["WORKER_METRICS_ADDRESS"] = metrics
                metrics_urls.append(f"http://{metrics}/metrics")
            child = Child(
                f"worker-{n}",
                [python, str(ROOT / "worker.py")],
                env=child_env,
                log=tmp / ("worker.log" if n == 0 else f"worker-{n}.log"),
            )
            stack.push_async_callback(child.stop)
            children.append(child)
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=api_url, headers=AUTH, timeout=30)
        )
        faults = ProcessStack(
            tmp=tmp,
            temporal=temporal,
            database_url=database_url,
            api_url=api_url,
            api=api,
            worker=children[0],
            sandbox=sandbox,
            http=http,
            workers=children,
            metrics_urls=metrics_urls,
        )
        await faults.start_api()  # it migrates the database first
        for child in children:
            await faults.start_worker(child)
        yield faults
