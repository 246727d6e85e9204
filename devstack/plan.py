"""What the local stack starts, and with which environment: pure functions of the configuration.

Every variable comes from ``core.config.Settings`` (environment and ``.env``), the stack's own
(``API_HOST``, ``API_PORT``, ``DATA_DIR``, ``SANDBOX_PORT``) included. A variable set
explicitly always wins; only the ones left unset get the local defaults:

- ``DATABASE_URL`` → the SQLite file ``DATA_DIR/sessions.db``;
- ``WHATSAPP_API_BASE_URL`` → the stand-in Graph API on ``SANDBOX_PORT`` (*sandbox mode*, which
  also starts that stand-in). Setting it explicitly is *real mode*: no sandbox is started.

Nothing here starts a process; ``devstack.supervisor`` does, from the ``StackPlan``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.config import Settings
from core.temporal_names import search_attribute_specs, web_ui_workflows_url

# The repository (or site-packages) directory holding ``worker.py`` and the packages.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_UI_PORT = 8233
TEMPORAL_DB_FILE = "temporal.db"
SESSIONS_DB_FILE = "sessions.db"
PID_FILE = "devstack.pids"

DEMO_ACCOUNT_ID = "demo"
DEMO_COMPANY_NAME = "Demo Company"
DEMO_PHONE_NUMBER_ID = "100000000000001"
DEMO_ACCESS_TOKEN = "sandbox-token"

# Addresses that mean "every interface": probes and URLs use loopback instead.
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


@dataclass(frozen=True)
class Endpoint:
    """A host and port something listens on."""

    host: str
    port: int

    @property
    def probe_host(self) -> str:
        """Where to reach it from this machine."""
        return "127.0.0.1" if self.host in _WILDCARD_HOSTS else self.host.strip("[]")

    def __str__(self) -> str:
        host = self.host if ":" not in self.host or self.host.startswith("[") else f"[{self.host}]"
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class StackPlan:
    """Everything the supervisor needs to start the stack and to tell the user about it."""

    data_dir: Path
    temporal: Endpoint
    temporal_ui: Endpoint
    temporal_ui_url: str
    namespace: str
    api: Endpoint
    sandbox: Endpoint | None
    database_url: str
    whatsapp_api_base_url: str
    api_token: str
    env: Mapping[str, str]

    @property
    def api_url(self) -> str:
        return f"http://{self.api.probe_host}:{self.api.port}"

    @property
    def public_api_url(self) -> str:
        """The API as a browser on this machine reaches it."""
        return f"http://localhost:{self.api.port}"

    @property
    def sandbox_url(self) -> str | None:
        return None if self.sandbox is None else f"http://127.0.0.1:{self.sandbox.port}"

    @property
    def temporal_db(self) -> Path:
        return self.data_dir / TEMPORAL_DB_FILE

    @property
    def pid_file(self) -> Path:
        return self.data_dir / PID_FILE

    def web_ui_workflows_url(self, query: str | None = None) -> str:
        """The Web UI's workflow list of the namespace, optionally filtered by ``query``."""
        return web_ui_workflows_url(self.temporal_ui_url, namespace=self.namespace, query=query)


def split_address(address: str) -> Endpoint:
    """``host:port`` (``[v6]:port`` too) as an ``Endpoint``; ValueError when malformed."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"TEMPORAL_ADDRESS must be host:port, got {address!r}")
    return Endpoint(host=host.strip("[]") or "localhost", port=int(port))


def sqlite_url(path: Path) -> str:
    """The async SQLAlchemy URL of a SQLite file (absolute, so every child agrees on it)."""
    return f"sqlite+aiosqlite:///{path.resolve()}"


def redact_url(url: str) -> str:
    """A database URL fit for a log line (password hidden)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable DATABASE_URL>"


def build_plan(
    settings: Settings, *, environ: Mapping[str, str], cwd: Path | None = None
) -> StackPlan:
    """The plan for ``settings``; ``environ`` is the base of the children's environment."""
    explicit = settings.model_fields_set
    data_dir = (
        settings.data_dir
        if settings.data_dir.is_absolute()
        else (cwd or Path.cwd()) / settings.data_dir
    )
    data_dir = data_dir.resolve()

    temporal = split_address(settings.temporal_address)
    ui_port = urlsplit(settings.temporal_ui_url).port or DEFAULT_UI_PORT
    sandbox = (
        None
        if "whatsapp_api_base_url" in explicit
        else Endpoint(host="127.0.0.1", port=settings.sandbox_port)
    )
    database_url = (
        settings.database_url
        if "database_url" in explicit
        else sqlite_url(data_dir / SESSIONS_DB_FILE)
    )
    whatsapp_api_base_url = (
        settings.whatsapp_api_base_url
        if sandbox is None
        else f"http://{sandbox.host}:{sandbox.port}"
    )

    env = dict(environ)
    pythonpath = [str(PROJECT_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "API_HOST": settings.api_host,
            "API_PORT": str(settings.api_port),
            "SANDBOX_PORT": str(settings.sandbox_port),
            "DATABASE_URL": database_url,
            "WHATSAPP_API_BASE_URL": whatsapp_api_base_url,
            # Children run `python -m api` and `worker.py` from wherever the user stands.
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(pythonpath)),
            # Log lines reach the terminal as they happen, not when a buffer fills.
            "PYTHONUNBUFFERED": "1",
        }
    )
    return StackPlan(
        data_dir=data_dir,
        temporal=temporal,
        temporal_ui=Endpoint(host=temporal.host, port=ui_port),
        temporal_ui_url=settings.temporal_ui_url,
        namespace=settings.temporal_namespace,
        api=Endpoint(host=settings.api_host, port=settings.api_port),
        sandbox=sandbox,
        database_url=database_url,
        whatsapp_api_base_url=whatsapp_api_base_url,
        api_token=settings.api_token.get_secret_value(),
        env=env,
    )


def search_attribute_flags() -> list[str]:
    """``--search-attribute Name=Type`` for every custom search attribute of the service."""
    flags: list[str] = []
    for spec in search_attribute_specs():
        flags += ["--search-attribute", spec]
    return flags


def temporal_command(plan: StackPlan, *, binary: Path) -> list[str]:
    """``temporal server start-dev`` with the Web UI, the persistence file and the attributes.

    The dev server tolerates ``--search-attribute`` for attributes its database already holds,
    so a second start on the same file works.
    """
    return [
        str(binary),
        "server",
        "start-dev",
        "--ip",
        plan.temporal.host,
        "--port",
        str(plan.temporal.port),
        "--ui-port",
        str(plan.temporal_ui.port),
        "--db-filename",
        str(plan.temporal_db),
        # WAL: readers (visibility) do not block the writer; synchronous=normal is durable
        # across process crashes in WAL mode, which is what a local stack needs.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--namespace",
        plan.namespace,
        *search_attribute_flags(),
        # A stopping worker's open polls are completed by the server instead of being cut off,
        # so a task handed to one at that moment is not stranded until its StartToClose timeout
        # (docs/operating.md#stopping-processes).
        "--dynamic-config-value",
        "frontend.enableCancelWorkerPollsOnShutdown=true",
        # The local stack must work offline: no newsfeed requests from the Web UI.
        "--ui-disable-news-fetch",
        "--log-format",
        "pretty",
        "--log-level",
        "warn",
    ]


def sandbox_command(python: str) -> list[str]:
    return [python, "-m", "devstack.sandbox_server"]


def worker_command(python: str) -> list[str]:
    return [python, str(PROJECT_ROOT / "worker.py")]


def api_command(python: str) -> list[str]:
    return [python, "-m", "api"]


def load_plan() -> StackPlan:
    """The plan from the process environment and ``.env`` (pydantic ValidationError if bad)."""
    return build_plan(Settings(), environ=os.environ)
