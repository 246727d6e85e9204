"""The end-to-end stack and its helpers: Meta-shaped signed webhooks, the stand-in Graph API's
record, a worker that can be stopped and started again, and database outages.

``open_stack`` wires the real pieces together on loopback: the stand-in Graph API
(``whatsapp.sandbox``) served by uvicorn, the API (``api.app.create_app`` with its own lifespan:
migrations, Temporal client, engine) served by uvicorn, and the real worker
(``boot.open_resources``, ``worker.build_activities`` and ``worker.build_worker``, sending to
the stand-in). Tests talk to all of it over HTTP only; the Temporal
client is there for cross-checks against the server itself.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.settings import SettingsActivities
from api.app import create_app
from boot import Resources, open_resources
from core.config import Settings
from store.db import create_sessionmaker
from store.repository import Store
from tests.meta_samples import sample_json
from tests.support import free_port, serve
from whatsapp.sandbox import StatusWebhooks, create_sandbox_app
from whatsapp.signature import SIGNATURE_HEADER, sign
from worker import build_activities, build_worker, reconcile_forever

T = TypeVar("T")
Json = dict[str, Any]

API_TOKEN = "e2e-api-token"
APP_SECRET = "e2e-app-secret"
VERIFY_TOKEN = "e2e-verify-token"
KEY_SECRET = "e2e-key-secret"
# The only token the stand-in Graph API accepts: proves the worker sends the account's token.
ACCESS_TOKEN = "EAAG-e2e-access-token"
UI_URL = "http://temporal-ui.e2e:8233"
AMBIGUOUS_WAIT = 2.0

HOUR = 3600
COMPANY = "Acme E2E"
PROFILE_NAME = "Sheena Nelson"
TEMPLATE = "Hi {contact_firstname}! {company_name} here. Still interested? Let me know!"
# TEMPLATE rendered for PROFILE_NAME (first name from the webhook's contacts[]) and COMPANY.
EXPECTED_TEXT = "Hi Sheena! Acme E2E here. Still interested? Let me know!"

_customers = itertools.count(secrets.randbelow(10**6) * 100)


def new_customer() -> str:
    """A WhatsApp id (E.164 digits) no other test of this session uses."""
    return f"1555{next(_customers):07d}"


def ago(seconds: float) -> int:
    """A Meta message timestamp (whole seconds, as Meta sends them) ``seconds`` in the past."""
    return int(time.time() - seconds)


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def when(value: str | None) -> datetime | None:
    """An ISO datetime of an API answer, parsed for comparison (formats may differ)."""
    return None if value is None else datetime.fromisoformat(value)


def wamid() -> str:
    return "wamid.E2E" + uuid.uuid4().hex.upper()


def message_webhook(
    phone_number_id: str,
    *messages: tuple[str, int],
    profile_name: str = PROFILE_NAME,
    message_ids: list[str] | None = None,
) -> Json:
    """Meta's text-message webhook (tests/fixtures/meta/message-text.json) carrying one text
    message per ``(wa_id, timestamp)``, all in one ``value`` as Meta batches them."""
    payload: Json = copy.deepcopy(sample_json("message-text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    template = value["messages"][0]
    value["contacts"], value["messages"] = [], []
    ids = message_ids or [wamid() for _ in messages]
    for (wa_id, timestamp), message_id in zip(messages, ids, strict=True):
        value["contacts"].append({"profile": {"name": profile_name}, "wa_id": wa_id})
        message = copy.deepcopy(template)
        message.update({"from": wa_id, "id": message_id, "timestamp": str(timestamp)})
        value["messages"].append(message)
    return payload


def new_bsuid() -> str:
    """A business-scoped user id no other test of this session uses."""
    return f"US.{secrets.randbelow(10**20):020d}"


def customer_webhook(
    phone_number_id: str,
    *,
    timestamp: int,
    wa_id: str | None = None,
    user_id: str | None = None,
    username: str | None = None,
    message_id: str | None = None,
) -> Json:
    """Meta's text-message webhook for a customer named as Meta names them since 2026: by
    number, by BSUID (``user_id``, with their username), or both
    (tests/fixtures/meta/message-text-bsuid-only.json, message-text-phone-and-bsuid.json)."""
    payload: Json = copy.deepcopy(sample_json("message-text-bsuid-only.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    [contact], [message] = value["contacts"], value["messages"]
    contact["profile"] = {"name": PROFILE_NAME} | ({"username": username} if username else {})
    contact.pop("user_id"), message.pop("from_user_id")
    if wa_id is not None:
        contact["wa_id"] = message["from"] = wa_id
    if user_id is not None:
        contact["user_id"] = message["from_user_id"] = user_id
    message.update({"id": message_id or wamid(), "timestamp": str(timestamp)})
    return payload


def status_webhook(
    phone_number_id: str,
    *,
    wa_id: str | None,
    user_id: str | None = None,
    message_id: str,
    status: str,
    timestamp: int,
    callback_data: str | None,
) -> Json:
    """Meta's status webhook (tests/fixtures/meta/status-delivered.json) for one message; to
    a customer without number (``wa_id`` None) it names the BSUID instead
    (status-delivered-bsuid.json)."""
    name = "status-delivered.json" if wa_id is not None else "status-delivered-bsuid.json"
    payload: Json = copy.deepcopy(sample_json(name))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    value["statuses"][0].update(
        {
            "id": message_id,
            "status": status,
            "timestamp": str(timestamp),
            "biz_opaque_callback_data": callback_data,
        }
    )
    if wa_id is not None:
        value["statuses"][0]["recipient_id"] = wa_id
    if user_id is not None:
        value["statuses"][0]["recipient_user_id"] = user_id
    return payload


def signed(payload: Json | bytes) -> tuple[bytes, dict[str, str]]:
    """The body and the headers Meta would send it with."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        SIGNATURE_HEADER: sign(APP_SECRET.encode(), body),
        "Content-Type": "application/json",
    }
    return body, headers


async def stays(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], *, seconds: float
) -> T:
    """Poll ``probe`` for ``seconds``, failing as soon as ``check`` does not hold.

    For "nothing more happens" there is nothing to wait for, only a time to watch.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = await probe()
        assert check(value), f"condition broken: {value!r}"
        if loop.time() >= deadline:
            return value
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class Account:
    account_id: str
    phone_number_id: str


class WorkerControl:
    """The real worker, which a test may stop (its context exits) and start again."""

    def __init__(self, build: Callable[[], Worker]) -> None:
        self._build = build
        self._running: AsyncExitStack | None = None

    async def start(self) -> None:
        assert self._running is None, "the worker is already running"
        running = AsyncExitStack()
        await running.enter_async_context(self._build())
        self._running = running

    async def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            await running.aclose()


@dataclass
class Stack:
    """One API + worker + stand-in Graph API, on one database and one task queue."""

    database: str
    settings: Settings
    app: FastAPI
    api: httpx.AsyncClient
    sandbox: httpx.AsyncClient
    temporal: Client
    worker: WorkerControl
    scratch: Path
    postgres_admin_url: str | None

    # -- management API -------------------------------------------------------------------

    async def create_account(
        self, *, expiry_hours: int, enabled: bool = True, message: str = TEMPLATE
    ) -> Account:
        suffix = uuid.uuid4().hex[:10]
        account = Account(account_id=f"e2e-{suffix}", phone_number_id=str(int(suffix, 16)))
        response = await self.api.put(
            f"/v1/accounts/{account.account_id}",
            json={
                "company_name": COMPANY,
                "phone_number_id": account.phone_number_id,
                "access_token": ACCESS_TOKEN,
            },
        )
        assert response.status_code == 201, response.text
        await self.save_settings(
            account, enabled=enabled, expiry_hours=expiry_hours, message=message
        )
        return account

    async def save_settings(self, account: Account, **body: object) -> Json:
        response = await self.api.put(
            f"/v1/accounts/{account.account_id}/session-settings", json=body
        )
        assert response.status_code == 200, response.text
        saved: Json = response.json()
        assert saved["message"] == "Settings saved successfully", saved
        return saved

    async def reminders(self, account: Account) -> list[Json]:
        response = await self.api.get(f"/v1/accounts/{account.account_id}/reminders")
        assert response.status_code == 200, response.text
        items: list[Json] = response.json()["items"]
        return items

    async def session(self, account: Account, wa_id: str) -> httpx.Response:
        return await self.api.get(f"/v1/accounts/{account.account_id}/sessions/{wa_id}")

    async def sessions(self, account: Account, **params: str) -> list[Json]:
        response = await self.api.get(f"/v1/accounts/{account.account_id}/sessions", params=params)
        assert response.status_code == 200, response.text
        items: list[Json] = response.json()["items"]
        return items

    # -- Meta's side ----------------------------------------------------------------------

    async def post_webhook(self, payload: Json | bytes) -> httpx.Response:
        body, headers = signed(payload)
        return await self.api.post("/webhooks/whatsapp", content=body, headers=headers)

    async def sent(self, account: Account) -> list[Json]:
        """What the stand-in Graph API accepted for the account's business number."""
        response = await self.sandbox.get(
            "/_sandbox/messages", params={"phone_number_id": account.phone_number_id}
        )
        assert response.status_code == 200, response.text
        items: list[Json] = response.json()["items"]
        return items

    async def fail_next_sends(self, failure: Json) -> None:
        response = await self.sandbox.post("/_sandbox/failures", json=failure)
        assert response.status_code == 201, response.text

    async def pending_failures(self) -> list[Json]:
        items: list[Json] = (await self.sandbox.get("/_sandbox/failures")).json()["items"]
        return items

    # -- outages --------------------------------------------------------------------------

    @asynccontextmanager
    async def database_outage(self) -> AsyncIterator[None]:
        """The API's database is unreachable inside the block, and back after it."""
        if self.postgres_admin_url is None:
            async with self._sqlite_outage():
                yield
        else:
            async with self._postgres_outage(self.postgres_admin_url):
                yield

    @asynccontextmanager
    async def _sqlite_outage(self) -> AsyncIterator[None]:
        # An embedded database has no server to stop, and as root file modes change nothing;
        # the API's store is pointed at a file SQLite cannot open (its directory is a file).
        blocker = self.scratch / f"outage-{uuid.uuid4().hex[:8]}"
        blocker.write_text("not a directory")
        broken = create_async_engine(f"sqlite+aiosqlite:///{blocker}/sessions.db")
        resources: Resources = self.app.state.resources
        self.app.state.resources = dataclasses.replace(
            resources, store=Store(create_sessionmaker(broken))
        )
        try:
            yield
        finally:
            self.app.state.resources = resources
            await broken.dispose()

    @asynccontextmanager
    async def _postgres_outage(self, admin_url: str) -> AsyncIterator[None]:
        # New connections are refused first, then the open ones are cut: no window in which a
        # pool could reconnect.
        name = make_url(self.settings.database_url).database
        assert name is not None
        admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as connection:
                await connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                await connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            yield
        finally:
            async with admin.connect() as connection:
                await connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await admin.dispose()


def make_settings(
    *, database_url: str, temporal: Client, task_queue: str, graph_api_url: str
) -> Settings:
    return Settings(
        _env_file=None,  # only what the test says, never a developer's .env
        environment="test",
        database_url=database_url,
        temporal_address=temporal.service_client.config.target_host,
        temporal_namespace=temporal.namespace,
        temporal_task_queue=task_queue,
        temporal_ui_url=UI_URL,
        api_token=SecretStr(API_TOKEN),
        whatsapp_app_secret=SecretStr(APP_SECRET),
        whatsapp_verify_token=SecretStr(VERIFY_TOKEN),
        whatsapp_api_base_url=graph_api_url,
        conversation_key_secret=SecretStr(KEY_SECRET),
        # Proof of an ambiguous send comes within a second here (the stand-in's statuses).
        whatsapp_ambiguous_wait_seconds=AMBIGUOUS_WAIT,
        settings_reconcile_seconds=1.0,
    )


@asynccontextmanager
async def open_stack(
    *,
    database: str,
    database_url: str,
    temporal: Client,
    task_queue: str,
    scratch: Path,
    postgres_admin_url: str | None = None,
) -> AsyncIterator[Stack]:
    """Stand-in Graph API, API and worker on loopback; torn down in reverse order."""
    async with AsyncExitStack() as stack:
        api_port = free_port()
        # Like Meta, the stand-in reports every accepted message to the API's webhook.
        statuses = StatusWebhooks(
            url=f"http://127.0.0.1:{api_port}/webhooks/whatsapp", app_secret=APP_SECRET.encode()
        )
        graph_api_url = await stack.enter_async_context(
            serve(create_sandbox_app(access_tokens={ACCESS_TOKEN}, status_webhooks=statuses))
        )
        settings = make_settings(
            database_url=database_url,
            temporal=temporal,
            task_queue=task_queue,
            graph_api_url=graph_api_url,
        )
        app = create_app(settings)
        # Served as api.app.main serves it: uvicorn's access log off, the API's own on.
        api_url = await stack.enter_async_context(serve(app, port=api_port, access_log=False))

        # The worker's own resources, opened the way worker.py opens them (on the shared client),
        # and its settings reconciler beside it.
        resources = await stack.enter_async_context(open_resources(settings, temporal=temporal))
        activities = build_activities(resources, settings)
        propagation = SettingsActivities(store=resources.store, temporal=temporal)
        worker = WorkerControl(
            lambda: build_worker(
                temporal,
                task_queue=task_queue,
                activities=activities,
                settings_activities=propagation,
            )
        )
        await worker.start()
        stack.push_async_callback(worker.stop)
        stop_reconciler = asyncio.Event()
        reconciler = asyncio.create_task(
            reconcile_forever(
                resources,
                task_queue=task_queue,
                interval=settings.settings_reconcile_seconds,
                stop=stop_reconciler,
            )
        )

        async def stop_reconciling() -> None:
            stop_reconciler.set()
            await reconciler

        stack.push_async_callback(stop_reconciling)

        api = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=api_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30
            )
        )
        sandbox = await stack.enter_async_context(
            httpx.AsyncClient(base_url=graph_api_url, timeout=30)
        )
        yield Stack(
            database=database,
            settings=settings,
            app=app,
            api=api,
            sandbox=sandbox,
            temporal=temporal,
            worker=worker,
            scratch=scratch,
            postgres_admin_url=postgres_admin_url,
        )
