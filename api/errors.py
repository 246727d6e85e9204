"""Turning "a dependency is down" into 503 answers, so no request ever ends in a bare 500.

    ServiceUnavailable        raised by our own code with the name of what is down
    RPCError / RPCTimeout…    Temporal did not answer (or refused) a call
    SQLAlchemyError           the database did not answer (OperationalError, DBAPIError, pool
                              timeouts …)
    TimeoutError / OSError    a connection-level failure below either of them

Each becomes ``503 {"detail": "<what> is unavailable, retry later"}``. Meta retries a webhook
answered with 5xx, and every write behind these routes is idempotent, so a retry is safe.

Validation errors keep FastAPI's 422 shape (``{"detail": [{"loc", "msg", "type"}]}``) but without
the ``input`` FastAPI echoes by default: for a body missing a field that is the whole body, and an
account's access token is write-only.

Anything else is a bug: ``UnhandledErrors`` answers a JSON 500 and logs the exception's class and
frames, never its message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.access_log import loggable_path
from core.redact import withheld

logger = logging.getLogger(__name__)

TEMPORAL = "temporal"
DATABASE = "database"


class ServiceUnavailable(Exception):
    """A backing service (``temporal`` or ``database``) could not do what the request needs."""

    def __init__(self, service: str, detail: str | None = None) -> None:
        self.service = service
        self.detail = detail or f"{service} is unavailable, retry later"
        super().__init__(self.detail)


@contextmanager
def temporal_call() -> Iterator[None]:
    """Re-raise any failure of a Temporal client call as ``ServiceUnavailable("temporal")``.

    RuntimeError is included on purpose: a lazily connected client that cannot reach the server
    raises ``RuntimeError("Failed client connect …")`` instead of an RPCError.
    """
    try:
        yield
    except (RPCError, RPCTimeoutOrCancelledError, RuntimeError, TimeoutError, OSError) as err:
        raise ServiceUnavailable(TEMPORAL) from err


def _unavailable(service: str, detail: str | None = None) -> JSONResponse:
    unavailable = ServiceUnavailable(service, detail)
    return JSONResponse(status_code=503, content={"detail": unavailable.detail})


def _path(request: Request) -> str:
    # Never the raw path: ``…/contacts/{wa_id}`` carries a customer's number or BSUID.
    secret: str = request.app.state.settings.conversation_key_secret.get_secret_value()
    return loggable_path(request, secret=secret)


async def _on_service_unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceUnavailable)
    logger.warning(
        "%s %s: %s unavailable (%s)",
        request.method,
        _path(request),
        exc.service,
        type(exc.__cause__).__name__ if exc.__cause__ else "-",
    )
    return JSONResponse(status_code=503, content={"detail": exc.detail})


async def _on_rpc_error(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status.name if isinstance(exc, RPCError) else type(exc).__name__
    logger.warning("%s %s: temporal call failed (%s)", request.method, _path(request), status)
    return _unavailable(TEMPORAL)


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    # Only the class name: SQLAlchemy messages can embed statement parameters (phone numbers).
    logger.warning(
        "%s %s: database call failed (%s)", request.method, _path(request), type(exc).__name__
    )
    return _unavailable(DATABASE)


async def _on_connection_error(request: Request, exc: Exception) -> JSONResponse:
    logger.warning(
        "%s %s: connection failure (%s)", request.method, _path(request), type(exc).__name__
    )
    return _unavailable("a backing service")


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own shape minus ``input``: FastAPI echoes the offending input, which for a
    # missing field is the whole body — access token included (it is write-only).
    assert isinstance(exc, RequestValidationError)
    detail = [
        {key: value for key, value in error.items() if key in ("loc", "msg", "type", "ctx")}
        for error in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(detail)})


class UnhandledErrors:
    """ASGI middleware: a bug answers a JSON 500, and its log line has no message.

    Starlette's own last resort (``ServerErrorMiddleware``, where an ``Exception`` handler
    would go) re-raises after answering, and the server then logs the exception *with* its
    message, which may quote the request's customer data. This catches it first, inside every
    other middleware (the access log still sees the 500), logs the class and frames only, and
    does not re-raise.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - the last resort, by design
            request = Request(scope)
            logger.error("%s %s: unhandled %s", request.method, _path(request), withheld(exc))
            if not started:
                answer = JSONResponse(status_code=500, content={"detail": "internal server error"})
                await answer(scope, receive, send)


def install_exception_handlers(app: FastAPI) -> None:
    """Register the 422 (without echoed input) and the 503 mappings (bugs: ``UnhandledErrors``)."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ServiceUnavailable, _on_service_unavailable)
    app.add_exception_handler(RPCError, _on_rpc_error)
    app.add_exception_handler(RPCTimeoutOrCancelledError, _on_rpc_error)
    app.add_exception_handler(SQLAlchemyError, _on_database_error)
    app.add_exception_handler(TimeoutError, _on_connection_error)
    app.add_exception_handler(OSError, _on_connection_error)
