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
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.access_log import loggable_path

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


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's ServerErrorMiddleware calls this for anything else; a JSON body at least keeps
    # the contract's error shape (and the traceback goes to the log, not to the client).
    logger.error(
        "%s %s: unhandled %s", request.method, _path(request), type(exc).__name__, exc_info=exc
    )
    return JSONResponse(status_code=500, content={"detail": "internal server error"})


def install_exception_handlers(app: FastAPI) -> None:
    """Register the 422 (without echoed input), the 503 mappings and a JSON 500 for bugs."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ServiceUnavailable, _on_service_unavailable)
    app.add_exception_handler(RPCError, _on_rpc_error)
    app.add_exception_handler(RPCTimeoutOrCancelledError, _on_rpc_error)
    app.add_exception_handler(SQLAlchemyError, _on_database_error)
    app.add_exception_handler(TimeoutError, _on_connection_error)
    app.add_exception_handler(OSError, _on_connection_error)
    app.add_exception_handler(Exception, _on_unexpected)
