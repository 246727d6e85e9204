"""Helpers shared by the test suites: serving an ASGI app on loopback, polling, free ports, and
storing or reading a contact by number the way a webhook would."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import pytest
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client

from boot import open_resources
from core.config import Settings
from core.identity import CustomerIdentity
from store.records import Contact
from store.repository import Store
from worker import build_activities, build_worker

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve(
    app: object, *, port: int | None = None, access_log: bool = True
) -> AsyncIterator[str]:
    """Serve an ASGI app over real HTTP on 127.0.0.1; yields its base URL.

    ``access_log=False`` as ``api.app.main`` serves the API: uvicorn's access log names
    customers, the API writes its own.
    """
    port = port or free_port()
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=access_log,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def eventually(
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    *,
    timeout: float = 15.0,
    interval: float = 0.05,
) -> T:
    """Poll ``probe`` until ``check`` holds (visibility and HTTP are eventually consistent)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(interval)


@asynccontextmanager
async def postgres_test_database(admin_url: str, *, prefix: str) -> AsyncIterator[str]:
    """A uniquely named PostgreSQL database for one test session, dropped afterwards.

    Skips when the server is unusable, unless ``CI`` is set: then that is a failure.
    """
    url = make_url(admin_url)
    # AUTOCOMMIT: CREATE/DROP DATABASE cannot run inside a transaction.
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5})
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except (OSError, DBAPIError, TimeoutError) as error:
        await admin.dispose()
        reason = f"PostgreSQL unusable at {url.render_as_string(hide_password=True)}: {error!r}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


@asynccontextmanager
async def running_worker(client: Client, settings: Settings) -> AsyncIterator[None]:
    """The real worker, built as ``worker.py`` builds it, polling on ``client``.

    Its store is on ``settings.database_url`` and it sends to ``settings.whatsapp_api_base_url``.
    """
    async with open_resources(settings, temporal=client) as resources:
        activities = build_activities(resources, settings)
        async with build_worker(
            client, task_queue=settings.temporal_task_queue, activities=activities
        ):
            yield


async def store_sender(
    store: Store,
    *,
    account_id: str,
    wa_id: str,
    conversation_key: str,
    profile_name: str | None = None,
) -> Contact:
    """The contact a webhook from this number stores (keyed ``conversation_key`` if new)."""
    return await store.contacts.resolve_sender(
        account_id=account_id,
        identity=CustomerIdentity(wa_id=wa_id),
        new_key=conversation_key,
        profile_name=profile_name,
    )


async def contact_by_number(store: Store, *, account_id: str, wa_id: str) -> Contact | None:
    """The stored contact with this number, if any."""
    return await store.contacts.find(account_id=account_id, identity=CustomerIdentity(wa_id=wa_id))
