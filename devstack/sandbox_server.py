"""``python -m devstack.sandbox_server``: the stand-in Graph API of sandbox mode, over HTTP.

Serves ``whatsapp.sandbox.create_sandbox_app()`` with uvicorn on 127.0.0.1:``SANDBOX_PORT``
(default 8081). Messages the worker "sends" are recorded in memory and listed at
``GET /_sandbox/messages``; they are gone when the process stops, by design. Like Meta, it
reports each accepted message with signed status webhooks to the local API
(``http://127.0.0.1:API_PORT/webhooks/whatsapp``, signed with ``WHATSAPP_APP_SECRET``), so the
pages show delivery states.
"""

from __future__ import annotations

import logging

import uvicorn

from core.config import get_settings
from whatsapp.sandbox import StatusWebhooks, create_sandbox_app

HOST = "127.0.0.1"


def main() -> None:
    """Serve until SIGTERM/SIGINT (uvicorn handles both)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    statuses = StatusWebhooks(
        url=f"http://127.0.0.1:{settings.api_port}/webhooks/whatsapp",
        app_secret=settings.whatsapp_app_secret.get_secret_value().encode(),
    )
    # Access logs off: the sandbox logs each recorded message itself, and the outbox is polled.
    uvicorn.run(
        create_sandbox_app(status_webhooks=statuses),
        host=HOST,
        port=settings.sandbox_port,
        access_log=False,
        log_level="info",
    )


if __name__ == "__main__":
    main()
