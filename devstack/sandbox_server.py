"""``python -m devstack.sandbox_server``: the stand-in Graph API of sandbox mode, over HTTP.

Serves ``whatsapp.sandbox.create_sandbox_app()`` with uvicorn on 127.0.0.1:``SANDBOX_PORT``
(default 8081). Messages the worker "sends" are recorded in memory and listed at
``GET /_sandbox/messages``; they are gone when the process stops, by design.
"""

from __future__ import annotations

import logging

import uvicorn

from core.config import get_settings
from whatsapp.sandbox import create_sandbox_app

HOST = "127.0.0.1"


def main() -> None:
    """Serve until SIGTERM/SIGINT (uvicorn handles both)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    port = get_settings().sandbox_port
    # Access logs off: the sandbox logs each recorded message itself, and the outbox is polled.
    uvicorn.run(create_sandbox_app(), host=HOST, port=port, access_log=False, log_level="info")


if __name__ == "__main__":
    main()
