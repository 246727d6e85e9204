"""Killing the Temporal dev server (keeping its persistence file) loses no reminder.

docs/operating.md#reliability lists this guarantee.

The dev server runs as a plain process here so that it can be SIGKILLed mid-session, as a crash
would; the worker keeps running and reconnects when the server is back on the same file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from activities.conversation import ConversationActivities
from core.contract import ConversationInput, CustomerMessage
from core.conversation_key import conversation_key
from core.temporal import connect, start_conversation, venv_binary
from core.temporal_names import SEARCH_ATTRIBUTES
from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.repository import Store
from tests.support import eventually, free_port, store_sender
from whatsapp.client import CloudApiClient
from worker import build_worker

pytestmark = [pytest.mark.devserver, pytest.mark.timeout(180)]


@asynccontextmanager
async def dev_server(db_file: Path, port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    """``temporal server start-dev`` on ``db_file``; SIGKILLed at exit if still running."""
    args = [
        "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
        "--db-filename", str(db_file), "--log-level", "error",
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
    ]  # fmt: skip
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}={key._metadata_type}"]
    process = await asyncio.create_subprocess_exec(
        str(venv_binary("temporal")),
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await eventually(lambda: _reachable(port), bool, timeout=30, interval=0.2)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _reachable(port: int) -> bool:
    try:
        client = await connect(address=f"127.0.0.1:{port}", namespace="default")
        await client.count_workflows()
    except Exception:  # noqa: BLE001 - not up yet
        return False
    return True


async def test_reminder_survives_a_killed_dev_server(tmp_path: Path, graph_sandbox: str) -> None:
    port = free_port()
    db_file = tmp_path / "temporal.db"
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
    await migrate(database_url)
    engine = create_engine(database_url)
    store = Store(create_sessionmaker(engine))
    phone_number_id = str(uuid.uuid4().int)[:15]
    await store.accounts.upsert(
        account_id="acme", company_name="Acme", phone_number_id=phone_number_id, access_token="t"
    )
    await store.settings.save(
        account_id="acme",
        enabled=True,
        expiry_hours=1,
        message="Hi {contact_firstname}, still there?",
        changed_by="test",
    )
    wa_id = "15550009999"
    key = conversation_key(secret="s", account_id="acme", wa_id=wa_id)
    await store_sender(
        store, account_id="acme", wa_id=wa_id, conversation_key=key, profile_name="Kim"
    )
    task_queue = f"tq-{uuid.uuid4()}"

    async def outbox() -> list[dict[str, object]]:
        async with httpx.AsyncClient(base_url=graph_sandbox) as sandbox:
            response = await sandbox.get(
                "/_sandbox/messages", params={"phone_number_id": phone_number_id}
            )
        items: list[dict[str, object]] = response.json()["items"]
        return items

    async with (
        dev_server(db_file, port) as first_server,
        httpx.AsyncClient(timeout=5) as http,
    ):
        client: Client = await connect(address=f"127.0.0.1:{port}", namespace="default")
        activities = ConversationActivities(
            store=store,
            whatsapp=CloudApiClient(http, base_url=graph_sandbox, api_version="v26.0"),
        )
        async with build_worker(client, task_queue=task_queue, activities=activities):
            now = datetime.now(UTC)
            await start_conversation(
                client,
                task_queue=task_queue,
                conversation=ConversationInput(account_id="acme", conversation_key=key),
                message=CustomerMessage(
                    message_id="wamid.k1",
                    sent_at=now - timedelta(hours=1) + timedelta(seconds=6),
                    received_at=now,
                ),
            )
            # The session is waiting on its durable timer: crash the server before it fires.
            os.kill(first_server.pid, signal.SIGKILL)
            await first_server.wait()
            await asyncio.sleep(8)  # the due time passes while the server is down
            assert await outbox() == []

            async with dev_server(db_file, port):
                [message] = await eventually(outbox, lambda items: len(items) == 1, timeout=60)
                assert message["body"] == "Hi Kim, still there?"
                await asyncio.sleep(3)
                assert len(await outbox()) == 1
                page = await store.reminders.page(account_id="acme")
                assert [r.outcome for r in page.items] == ["sent"]
    await engine.dispose()
