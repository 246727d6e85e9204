"""Start-up, written once: what the API, the worker, the benchmarks and the tests run on.

``open_resources(settings)`` brings up, in this order,

1. the database schema (Alembic migrations to head, or with MIGRATE_ON_START=false a check that
   another step already brought it there: a process never serves an old schema),
2. the Temporal client (pydantic data converter; TLS, mTLS or API key from the SDK's
   environment configuration) and the custom search attributes (unless
   TEMPORAL_REGISTER_SEARCH_ATTRIBUTES is false; a refusal only logs a warning),
3. the database engine and the ``Store`` over it,
4. the httpx client the WhatsApp client (worker) and the outbox page (API) send with,

and closes them again in reverse order. ``api.app`` keeps the result on ``app.state`` for the
routes; ``worker.py`` builds its activities from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.runtime import Runtime

from core.clock import Clock, utc_now
from core.config import Settings
from core.temporal import connect, register_search_attributes
from store.db import create_engine, create_sessionmaker
from store.migrate import check_at_head, migrate
from store.repository import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resources:
    """A process's connections: the store, the Temporal client, the httpx client."""

    store: Store
    temporal: Client
    http: httpx.AsyncClient
    # The webhook's ``received_at``; injectable so tests can pin "now".
    clock: Clock = field(default=utc_now)


@asynccontextmanager
async def open_resources(
    settings: Settings,
    *,
    temporal: Client | None = None,
    runtime: Runtime | None = None,
) -> AsyncIterator[Resources]:
    """Open everything a process needs; ``temporal`` reuses a client the caller already has."""
    if settings.migrate_on_start:
        await migrate(settings.database_engine_url())
    else:
        await check_at_head(settings.database_engine_url())
    if temporal is None:
        temporal = await connect(
            address=settings.temporal_address,
            namespace=settings.temporal_namespace,
            runtime=runtime,
        )
    if settings.temporal_register_search_attributes:
        await register_search_attributes(temporal, namespace=temporal.namespace)
    engine = create_engine(
        settings.database_engine_url(),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    try:
        async with httpx.AsyncClient(timeout=settings.whatsapp_timeout_seconds) as http:
            logger.info(
                "connected: temporal %s namespace %s, task queue %s",
                settings.temporal_address,
                temporal.namespace,
                settings.temporal_task_queue,
            )
            yield Resources(store=Store(create_sessionmaker(engine)), temporal=temporal, http=http)
    finally:
        await engine.dispose()


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a process's ``main`` on uvloop where it is installed (``uvicorn[standard]`` brings
    it on Linux and macOS), else on asyncio's own loop.

    The worker hands every workflow activation to a thread and every SQLite statement to
    aiosqlite's thread; uvloop's cross-thread wake-ups (``call_soon_threadsafe``) cost less.
    """
    try:
        import uvloop
    except ImportError:  # Windows: no uvloop
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)
