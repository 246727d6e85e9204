"""Fixtures of the API tests: a migrated SQLite store per test, a time-skipping Temporal server
(no worker: signal-with-start succeeds without one), and the app under ``httpx.ASGITransport``
with its resources passed in (ASGITransport does not run lifespans).

Each test gets its own account id, business number and task queue, so tests sharing the
session-wide Temporal server never see each other's workflows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from boot import Resources
from core.config import Settings
from core.temporal import ensure_search_attributes, venv_binary
from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.records import Account
from store.repository import Store
from tests.api.support import API_TOKEN, APP_SECRET, AUTH, KEY_SECRET, VERIFY_TOKEN
from tests.support import free_port


def make_settings(database_url: str, *, namespace: str = "default", **extra: Any) -> Settings:
    return Settings(
        _env_file=None,  # only what the test says, never a developer's .env
        environment="test",
        database_url=database_url,
        temporal_namespace=namespace,
        temporal_task_queue=f"api-test-{uuid.uuid4().hex[:8]}",
        temporal_ui_url="http://ui.test:8233",
        api_token=SecretStr(API_TOKEN),
        whatsapp_app_secret=SecretStr(APP_SECRET),
        whatsapp_verify_token=SecretStr(VERIFY_TOKEN),
        conversation_key_secret=SecretStr(KEY_SECRET),
        **extra,
    )


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of the API tests' own, shadowing the root one.

    These tests start workflows that no worker ever runs (signal-with-start needs none). The
    test server does not skip time while any workflow task is outstanding, so sharing its
    server would make every later ``env.sleep()`` of the workflow tests hang.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(venv_binary("temporal-test-server")),
    )
    # The test server hangs on upserts of unregistered search attributes.
    await ensure_search_attributes(env.client, namespace=env.client.namespace)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    await migrate(database_url)
    engine = create_engine(database_url)
    try:
        yield Store(create_sessionmaker(engine))
    finally:
        await engine.dispose()


@pytest.fixture
def settings(database_url: str, ts_env: WorkflowEnvironment) -> Settings:
    return make_settings(database_url, namespace=ts_env.client.namespace)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def build_app(
    settings: Settings, *, store: Store, temporal: Client, http: httpx.AsyncClient
) -> FastAPI:
    return create_app(settings, resources=Resources(store=store, temporal=temporal, http=http))


def asgi_client(app: FastAPI, *, auth: bool = True) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api.test",
        headers=AUTH if auth else None,
    )


@pytest.fixture
def app(
    settings: Settings, store: Store, ts_env: WorkflowEnvironment, http: httpx.AsyncClient
) -> FastAPI:
    return build_app(settings, store=store, temporal=ts_env.client, http=http)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The API, authenticated."""
    async with asgi_client(app) as client:
        yield client


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The API, without a bearer token (Meta's point of view)."""
    async with asgi_client(app, auth=False) as client:
        yield client


@dataclass(frozen=True)
class Seeded:
    account: Account

    @property
    def account_id(self) -> str:
        return self.account.account_id

    @property
    def phone_number_id(self) -> str:
        return self.account.phone_number_id


@pytest.fixture
async def seeded(store: Store) -> Seeded:
    """An account with a unique id and business number."""
    suffix = uuid.uuid4().hex[:10]
    account, _ = await store.accounts.upsert(
        account_id=f"acct-{suffix}",
        company_name="Acme Inc.",
        phone_number_id=str(int(suffix, 16)),
        access_token="EAAG-secret-token",
    )
    return Seeded(account=account)


@pytest.fixture
async def temporal_down() -> Client:
    """A client of a Temporal server that is not there (a closed port), failing fast."""
    return await Client.connect(
        f"127.0.0.1:{free_port()}",
        lazy=True,
        data_converter=pydantic_data_converter,
        retry_config=RetryConfig(max_retries=0),
    )
