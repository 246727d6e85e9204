"""The FastAPI app factory and its lifespan; ``main()`` serves it with uvicorn.

``create_app(settings)`` builds an app whose lifespan applies the database migrations, connects
to Temporal (pydantic converter, search attributes registered where missing), opens the engine,
the ``Store`` and an httpx client, and closes them on shutdown. Routes reach them only through
``api.deps``.

Tests (and anything else that owns its connections) pass them in instead:
``create_app(settings, resources=Resources(store=…, temporal=…, http=…))``. The app then uses
them as they are, its lifespan does nothing, and the caller closes them — which is also why it
works under ``httpx.ASGITransport``, which does not run lifespans.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from api.deps import Resources
from api.errors import install_exception_handlers
from api.ingest_cache import IngestCache
from api.metrics import Metrics
from api.pages import router as pages_router
from api.routes import health, v1, webhooks
from core.config import Settings, get_settings
from core.temporal import connect, ensure_search_attributes
from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.repository import Store

logger = logging.getLogger(__name__)

DESCRIPTION = (
    "Forwards WhatsApp Cloud API webhooks to one durable Temporal workflow per conversation and "
    "manages the session-reminder settings, contacts, sessions and reminder audit trail. "
    "Management routes under `/v1` need `Authorization: Bearer <API_TOKEN>`."
)


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    """A new app; with ``resources`` it uses those instead of opening its own."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if resources is not None:
            yield
            return
        async with _open_resources(settings) as opened:
            app.state.resources = opened
            try:
                yield
            finally:
                app.state.resources = None

    app = FastAPI(
        title="WhatsApp Session Management",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.ingest_cache = IngestCache()
    app.state.resources = resources
    install_exception_handlers(app)
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(v1.router)
    app.include_router(pages_router)
    return app


@asynccontextmanager
async def _open_resources(settings: Settings) -> AsyncIterator[Resources]:
    # Schema first: a replica must never serve requests against an old schema.
    await migrate(settings.database_url)
    temporal = await connect(
        address=settings.temporal_address, namespace=settings.temporal_namespace
    )
    await ensure_search_attributes(temporal, namespace=settings.temporal_namespace)
    engine = create_engine(settings.database_url)
    try:
        async with httpx.AsyncClient(timeout=settings.whatsapp_timeout_seconds) as http:
            logger.info(
                "API ready: temporal %s namespace %s, task queue %s",
                settings.temporal_address,
                settings.temporal_namespace,
                settings.temporal_task_queue,
            )
            yield Resources(store=Store(create_sessionmaker(engine)), temporal=temporal, http=http)
    finally:
        await engine.dispose()


def main() -> None:
    """Serve the API on ``API_HOST`` (default 0.0.0.0, for containers) : ``API_PORT`` (8000)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    host = os.environ.get("API_HOST", "0.0.0.0")
    port = int(os.environ.get("API_PORT", "8000"))
    uvicorn.run(create_app(), host=host, port=port, proxy_headers=True)
