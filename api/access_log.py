"""The API's access log: one line per HTTP request, with customer ids redacted.

uvicorn's own access log prints the raw request target, and ``…/contacts/{wa_id}``,
``…/sessions/{wa_id}`` and ``…/reminders?wa_id=…`` carry a customer's number or BSUID; so the
API is served with ``access_log=False`` and :class:`AccessLog`, a pure ASGI middleware, writes
this line instead on the ``api.access`` logger::

    GET /v1/accounts/acme/sessions/customer:05070de9 200 3.1ms

(``core.redact`` says how a customer id becomes ``customer:<8 hex>``). No client address either:
behind the load balancer it is the balancer's, and a customer's address is personal data too.

:func:`loggable_path` is the path other log lines of a request may show: the route's template
(``/v1/accounts/{account_id}/contacts/{wa_id}``) once routing matched, else the redacted path.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.redact import redact_path, redact_target

logger = logging.getLogger("api.access")


class AccessLog:
    """Pure ASGI middleware: log method, redacted target, status and duration of each request."""

    def __init__(self, app: ASGIApp, *, secret: str) -> None:
        self.app = app
        self._secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # 500 unless an answer starts: an exception escaping here is answered 500 further out
        # (Starlette's ServerErrorMiddleware).
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            if logger.isEnabledFor(logging.INFO):
                query = scope.get("query_string", b"").decode("latin-1")
                logger.info(
                    "%s %s %d %.1fms",
                    scope["method"],
                    redact_target(scope["path"], query, secret=self._secret),
                    status,
                    (time.perf_counter() - started) * 1000,
                )


def loggable_path(request: Request, *, secret: str) -> str:
    """The path of ``request`` with each path parameter as ``{name}``
    (``/v1/accounts/{account_id}/contacts/{wa_id}``), and anything else that names a customer
    redacted (a path no route matched has no parameters)."""
    # From the matched parameters rather than the route object: a route of an included router
    # knows only its own part of the path.
    names = {str(value): name for name, value in request.path_params.items()}
    segments = [
        f"{{{names[segment]}}}" if segment in names else segment
        for segment in request.scope["path"].split("/")
    ]
    return redact_path("/".join(segments), secret=secret)
