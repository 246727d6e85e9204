"""``NoStoreMiddleware``: every answer is ``Cache-Control: no-store`` unless its route says
otherwise.

API answers carry account settings, contacts, rendered reminders and error details; a shared
proxy or the browser's disk cache must not keep them. Routes that want caching (the pages'
static assets, which are immutable per content hash) set their own ``Cache-Control``, and it is
left alone. Pure ASGI rather than ``BaseHTTPMiddleware``: it only edits the start message, so it
adds no task or buffering to the webhook path.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CACHE_CONTROL = b"cache-control"
NO_STORE = b"no-store"


class NoStoreMiddleware:
    """Adds ``Cache-Control: no-store`` to every HTTP answer that has no ``Cache-Control``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == CACHE_CONTROL for name, _ in headers):
                    headers.append((CACHE_CONTROL, NO_STORE))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)
