"""The FastAPI app factory and its lifespan; ``main()`` serves it with uvicorn.

``create_app(settings)`` builds an app whose lifespan opens what the service runs on with
``boot.open_resources`` (migrations, Temporal client and search attributes, engine and
``Store``, httpx client) and closes it on shutdown. Routes reach them only through ``api.deps``.

Tests (and anything else that owns its connections) pass them in instead:
``create_app(settings, resources=Resources(store=…, temporal=…, http=…))``. The app then uses
them as they are, its lifespan does nothing, and the caller closes them — which is also why it
works under ``httpx.ASGITransport``, which does not run lifespans.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from api.access_log import AccessLog
from api.docs_page import install_docs
from api.errors import UnhandledErrors, install_exception_handlers
from api.guard import RequestGuard
from api.headers import NoStoreMiddleware
from api.ingest_cache import IngestCache
from api.metrics import Metrics
from api.pages import router as pages_router
from api.routes import health, v1, webhooks
from boot import Resources, open_resources
from core.config import Settings, get_settings

logger = logging.getLogger(__name__)

DESCRIPTION = (
    "Forwards WhatsApp Cloud API webhooks to one durable Temporal workflow per conversation and "
    "manages the session-reminder settings, contacts, sessions and reminder audit trail. "
    "Management routes under `/v1` need `Authorization: Bearer <API_TOKEN>`, or an account "
    "token (`wst_…`), which reaches that account only."
)


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    """A new app; with ``resources`` it uses those instead of opening its own."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if resources is not None:
            yield
            return
        # Schema first (inside open_resources): a replica never serves an old schema.
        async with open_resources(settings) as opened:
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
        # FastAPI's pages load Swagger UI and ReDoc from a CDN by major version; api.docs_page
        # serves a pinned, integrity-checked /docs instead, and none in production.
        docs_url=None,
        redoc_url=None,
        # A trailing slash is not another spelling of a route: "/v1/accounts/0%2F" must not be
        # redirected to account "0" (found by the management fuzz test).
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.ingest_cache = IngestCache()
    app.state.resources = resources
    install_exception_handlers(app)
    install_docs(app, settings)
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(v1.router)
    app.include_router(pages_router)
    # A bug answers a JSON 500 whose log line quotes no message (api.errors); innermost, so
    # every other middleware sees that answer.
    app.add_middleware(UnhandledErrors)
    # Body limits everywhere, the /v1 bearer token before any body is read (api.guard). Added
    # before the others, so inside them: they see its 401/413 answers.
    app.add_middleware(RequestGuard, state=app.state)
    # Cache-Control: no-store on every answer without its own; added after the guard, so
    # outside it: the guard's 401/413 answers get it too.
    app.add_middleware(NoStoreMiddleware)
    # Our access log instead of uvicorn's (customer ids redacted); outermost of all, so it sees
    # every answer, whatever middleware gave it.
    app.add_middleware(AccessLog, secret=settings.conversation_key_secret.get_secret_value())
    return app


def main() -> None:
    """Serve the API on ``API_HOST``:``API_PORT`` (default 127.0.0.1:8000)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    # access_log=False: uvicorn's prints raw paths, which name customers; api.access_log
    # writes the API's own, redacted.
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        proxy_headers=True,
        access_log=False,
    )
