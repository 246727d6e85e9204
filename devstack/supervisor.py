"""Start, watch and stop the local stack's processes (asyncio subprocesses, standard library).

Start order: Temporal dev server (ready when a client connects and the search attributes are
registered), the sandbox Graph API in sandbox mode (ready when it answers HTTP), the worker, the
API (ready when ``GET /readyz`` answers 200); then, in sandbox mode, the demo account is created
through the API if it does not exist yet, and the banner is logged.

Each child runs in its own process group, so a Ctrl-C in the terminal reaches only the
supervisor, which then stops the children in reverse order — API, worker, sandbox, Temporal —
with SIGTERM, and SIGKILL for any that has not exited after ``STOP_TIMEOUT`` (a second Ctrl-C
skips the wait). SIGTERM and SIGHUP do the same. Exit status: 0 after such a stop, 1 when a child
died on its own or the stack could not start, 2 for bad configuration.

Children's pids are kept in ``DATA_DIR/devstack.pids`` (JSON) while the stack runs. Before
starting, the file and the ports are checked, so a second stack on the same data directory, or
children a SIGKILLed supervisor left behind, are reported instead of fought over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx
from pydantic import ValidationError

from core.temporal import connect, ensure_search_attributes, venv_binary
from devstack.banner import banner_lines
from devstack.plan import (
    DEMO_ACCESS_TOKEN,
    DEMO_ACCOUNT_ID,
    DEMO_COMPANY_NAME,
    DEMO_PHONE_NUMBER_ID,
    Endpoint,
    StackPlan,
    api_command,
    load_plan,
    sandbox_command,
    temporal_command,
    worker_command,
)

logger = logging.getLogger("devstack")

STOP_TIMEOUT = 10.0
START_TIMEOUT = 90.0
PROBE_INTERVAL = 0.25
# Longest child output line relayed in one piece; longer ones are split.
LINE_LIMIT = 1 << 20


class StartupError(Exception):
    """The stack could not be brought up (message says why)."""


class ChildExited(StartupError):
    """A child process ended although nobody asked it to."""


class _Formatter(logging.Formatter):
    """``[name] message``: the child's name (or ``devstack``) as prefix, aligned."""

    def format(self, record: logging.LogRecord) -> str:
        label = record.name.removeprefix("devstack.")
        prefix = f"[{label}]".ljust(11)
        message = record.getMessage()
        if record.levelno >= logging.WARNING and label == "devstack":
            message = f"{record.levelname}: {message}"
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        return f"{prefix} {message}".rstrip()


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_Formatter())
    root = logging.getLogger("devstack")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


class Child:
    """One supervised process: started in its own process group, output relayed line by line."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        quiet_when_stopping: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.quiet_when_stopping = quiet_when_stopping
        self.stopping = False
        self._log = logging.getLogger(f"devstack.{name}")
        self._process: asyncio.subprocess.Process | None = None
        self._relay: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.env,
            # Own process group: the terminal's Ctrl-C goes to the supervisor only, which stops
            # the children in order; killpg also reaches anything a child spawned.
            process_group=0,
            limit=LINE_LIMIT,
        )
        self._relay = asyncio.create_task(self._relay_output(), name=f"relay-{self.name}")
        logger.info("started %s (pid %d)", self.name, self._process.pid)

    async def wait(self) -> int:
        assert self._process is not None
        return await self._process.wait()

    async def _relay_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stream = self._process.stdout
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # longer than LINE_LIMIT: pass it on in pieces
                line = await stream.read(LINE_LIMIT)
            if not line:
                return
            text = line.decode(errors="replace").rstrip()
            if text:
                # The dev server warns about every internal poller it cancels on the way down:
                # chatter, not news, once we asked it to stop.
                quiet = self.stopping and self.quiet_when_stopping
                self._log.log(logging.DEBUG if quiet else logging.INFO, "%s", text)

    async def stop(self, *, timeout: float, force: asyncio.Event) -> None:
        """SIGTERM the group, SIGKILL after ``timeout`` (or at once when ``force`` is set)."""
        process = self._process
        if process is None:
            return
        self.stopping = True
        if process.returncode is None:
            logger.info("stopping %s (pid %d)", self.name, process.pid)
            self._signal(signal.SIGTERM)
            if not await _wait_either(process.wait(), force.wait(), timeout=timeout):
                logger.warning("%s did not stop in time: killing it", self.name)
                self._signal(signal.SIGKILL)
                await process.wait()
            # Uvicorn re-raises the SIGTERM it handled: that is a clean stop too.
            clean = process.returncode in (0, -signal.SIGTERM)
            logger.info(
                "%s stopped%s",
                self.name,
                "" if clean else f" ({describe_exit(process.returncode)})",
            )
        # Whatever the child left behind in its group goes too.
        self._signal(signal.SIGKILL)
        if self._relay is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._relay, timeout=2)
            self._relay.cancel()

    def _signal(self, signum: signal.Signals) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)


async def _wait_either(
    done: Awaitable[object], abort: Awaitable[object], *, timeout: float
) -> bool:
    """True if ``done`` finished within ``timeout`` and before ``abort``."""
    done_task = asyncio.ensure_future(done)
    abort_task = asyncio.ensure_future(abort)
    try:
        await asyncio.wait(
            {done_task, abort_task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        return done_task.done()
    finally:
        abort_task.cancel()
        if not done_task.done():
            done_task.cancel()


async def port_in_use(endpoint: Endpoint) -> bool:
    """Something already accepts connections there."""
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(endpoint.probe_host, endpoint.port), timeout=1
        )
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _read_pids(pid_file: Path) -> dict[str, int]:
    try:
        raw = json.loads(pid_file.read_text())
        return {str(name): int(pid) for name, pid in raw.items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def _alive_with(pid: int, marker: bytes, *, source: str) -> bool:
    """``pid`` runs and its ``/proc/<pid>/<source>`` mentions ``marker`` (guards pid reuse)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}/{source}")
    try:
        return marker in proc.read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc here: trust the pid
    except OSError:
        return True


def check_previous_stack(pid_file: Path, *, data_dir: Path) -> None:
    """Refuse to start while another stack — or what a killed one left behind — uses the data."""
    pids = _read_pids(pid_file)
    owner = pids.pop("devstack", None)
    if owner is not None and _alive_with(owner, b"devstack", source="cmdline"):
        raise StartupError(f"another stack (pid {owner}) is running on {data_dir}; stop it first")
    # The supervisor died without stopping its children (SIGKILL): they carry DATA_DIR.
    marker = f"DATA_DIR={data_dir}\0".encode()
    leftovers = {
        name: pid for name, pid in pids.items() if _alive_with(pid, marker, source="environ")
    }
    if leftovers:
        listed = ", ".join(f"{name} (pid {pid})" for name, pid in leftovers.items())
        groups = " ".join(f"-{pid}" for pid in leftovers.values())
        raise StartupError(
            f"processes of a previous stack on {data_dir} are still running: {listed}; "
            f"stop them with `kill -TERM -- {groups}`"
        )


def describe_exit(returncode: int | None) -> str:
    """``status 1``, ``killed by SIGKILL`` …"""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"status {returncode}"


class Supervisor:
    """Runs one ``StackPlan`` until stopped or until a child dies."""

    def __init__(self, plan: StackPlan, *, python: str = sys.executable) -> None:
        self.plan = plan
        self.python = python
        self.stop_requested = asyncio.Event()
        self.force = asyncio.Event()
        self.children: list[Child] = []

    def request_stop(self) -> None:
        """First call: orderly shutdown; second call: stop waiting for slow children."""
        if self.stop_requested.is_set():
            logger.warning("second interrupt: killing what is left")
            self.force.set()
        else:
            logger.info("interrupted: stopping the stack")
            self.stop_requested.set()

    async def run(self) -> int:
        """The exit status: 0 after a requested stop, 1 after a failure."""
        try:
            await self._preflight()
        except StartupError as err:
            logger.error("%s", err)
            return 1
        status = 1
        try:
            status = await self._run_until_stopped()
        finally:
            await self._stop_all()
            with contextlib.suppress(FileNotFoundError):
                self.plan.pid_file.unlink()
            logger.info("stack stopped")
        return status

    async def _run_until_stopped(self) -> int:
        startup = asyncio.create_task(self._start_all(), name="startup")
        stop = asyncio.create_task(self.stop_requested.wait(), name="stop-requested")
        try:
            await asyncio.wait({startup, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not startup.done():
                startup.cancel()
                with contextlib.suppress(asyncio.CancelledError, StartupError):
                    await startup
                return 0
            try:
                startup.result()
            except StartupError as err:
                logger.error("could not start the stack: %s", err)
                return 1
            for line in banner_lines(self.plan):
                logger.info("%s", line)
            exits = {
                asyncio.create_task(child.wait(), name=f"wait-{child.name}"): child
                for child in self.children
            }
            try:
                done, _ = await asyncio.wait({stop, *exits}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in exits:
                    task.cancel()
            if stop in done:
                return 0
            for task in done:
                child = exits[task]
                logger.error(
                    "%s exited unexpectedly (%s): stopping the stack",
                    child.name,
                    describe_exit(child.returncode),
                )
            return 1
        finally:
            stop.cancel()

    async def _preflight(self) -> None:
        plan = self.plan
        plan.data_dir.mkdir(parents=True, exist_ok=True)
        check_previous_stack(plan.pid_file, data_dir=plan.data_dir)
        endpoints = {
            "Temporal (TEMPORAL_ADDRESS)": plan.temporal,
            "Temporal Web UI (TEMPORAL_UI_URL)": plan.temporal_ui,
            "API (API_PORT)": plan.api,
        }
        if plan.sandbox is not None:
            endpoints["sandbox Graph API (SANDBOX_PORT)"] = plan.sandbox
        busy = [
            f"{what} port {endpoint.port}"
            for what, endpoint in endpoints.items()
            if await port_in_use(endpoint)
        ]
        if busy:
            raise StartupError(
                "already in use: " + ", ".join(busy) + " (another stack running? change the port)"
            )

    async def _start_all(self) -> None:
        plan = self.plan
        env = dict(plan.env)
        try:
            binary = venv_binary("temporal")
        except FileNotFoundError as err:
            raise StartupError(str(err)) from None
        logger.info("data directory %s", plan.data_dir)
        temporal = await self._start(
            "temporal", temporal_command(plan, binary=binary), env, quiet=True
        )
        await self._until_ready(temporal, "Temporal dev server", self._temporal_ready)
        if plan.sandbox is not None:
            sandbox = await self._start("sandbox", sandbox_command(self.python), env)
            await self._until_ready(sandbox, "sandbox Graph API", self._sandbox_ready)
        else:
            logger.info("real mode: messages go to %s", plan.whatsapp_api_base_url)
        await self._start("worker", worker_command(self.python), env)
        api = await self._start("api", api_command(self.python), env)
        await self._until_ready(api, "API", self._api_ready)
        if plan.sandbox is not None:
            await self._ensure_demo_account()

    async def _start(
        self, name: str, argv: Sequence[str], env: dict[str, str], *, quiet: bool = False
    ) -> Child:
        child = Child(name, argv, env=env, quiet_when_stopping=quiet)
        await child.start()
        self.children.append(child)
        self._write_pids()
        return child

    def _write_pids(self) -> None:
        pids = {"devstack": os.getpid()}
        pids.update({c.name: c.pid for c in self.children if c.pid is not None})
        tmp = self.plan.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(pids, indent=2) + "\n")
        tmp.replace(self.plan.pid_file)

    async def _until_ready(
        self, child: Child, what: str, probe: Callable[[], Awaitable[bool]]
    ) -> None:
        """Poll ``probe`` until true; fail if any child dies or ``START_TIMEOUT`` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while True:
            for started in self.children:
                if started.returncode is not None:
                    raise ChildExited(
                        f"{started.name} exited ({describe_exit(started.returncode)})"
                        f" while waiting for the {what} (see its output above)"
                    )
            if await probe():
                logger.info("%s is ready", what)
                return
            if loop.time() > deadline:
                raise StartupError(f"the {what} did not become ready in {START_TIMEOUT:.0f}s")
            await asyncio.sleep(PROBE_INTERVAL)

    async def _temporal_ready(self) -> bool:
        address = str(self.plan.temporal)
        try:
            client = await asyncio.wait_for(
                connect(address=address, namespace=self.plan.namespace), timeout=5
            )
            added = await asyncio.wait_for(
                ensure_search_attributes(client, namespace=self.plan.namespace), timeout=10
            )
        except Exception as err:
            # Connection refused (RuntimeError), timeouts, RPCError while the namespace is
            # still being created: all mean "not yet"; the deadline turns them into a failure.
            logger.debug("Temporal not ready yet: %r", err)
            return False
        if added:
            logger.info("registered search attributes %s", ", ".join(added))
        return True

    async def _sandbox_ready(self) -> bool:
        url = self.plan.sandbox_url
        assert url is not None
        return await _http_ok(f"{url}/_sandbox/messages")

    async def _api_ready(self) -> bool:
        return await _http_ok(f"{self.plan.api_url}/readyz")

    async def _ensure_demo_account(self) -> None:
        """Create the demo account unless it exists (a restart keeps the user's changes)."""
        url = f"{self.plan.api_url}/v1/accounts/{DEMO_ACCOUNT_ID}"
        headers = {"Authorization": f"Bearer {self.plan.api_token}"}
        async with httpx.AsyncClient(timeout=10, headers=headers) as http:
            try:
                found = await http.get(url)
                if found.status_code == httpx.codes.OK:
                    logger.info("demo account %r exists", DEMO_ACCOUNT_ID)
                    return
                if found.status_code != httpx.codes.NOT_FOUND:
                    logger.warning(
                        "could not look up the demo account: HTTP %d %s",
                        found.status_code,
                        found.text[:200],
                    )
                    return
                created = await http.put(
                    url,
                    json={
                        "company_name": DEMO_COMPANY_NAME,
                        "phone_number_id": DEMO_PHONE_NUMBER_ID,
                        "access_token": DEMO_ACCESS_TOKEN,
                    },
                )
            except httpx.HTTPError as err:
                logger.warning("could not create the demo account: %s", err)
                return
        if created.is_success:
            logger.info(
                "created demo account %r (phone_number_id %s)",
                DEMO_ACCOUNT_ID,
                DEMO_PHONE_NUMBER_ID,
            )
        else:
            logger.warning(
                "could not create the demo account: HTTP %d %s",
                created.status_code,
                created.text[:200],
            )

    async def _stop_all(self) -> None:
        # Reverse start order: the API stops taking webhooks before the worker and Temporal go.
        for child in reversed(self.children):
            await child.stop(timeout=STOP_TIMEOUT, force=self.force)


async def _http_ok(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            response = await http.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code == httpx.codes.OK


async def _main(plan: StackPlan) -> int:
    supervisor = Supervisor(plan)
    loop = asyncio.get_running_loop()
    # SIGHUP too: closing the terminal must not orphan the children (they are in other groups).
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, supervisor.request_stop)
    return await supervisor.run()


def main() -> None:
    """Entry point of ``python -m devstack``."""
    configure_logging()
    try:
        plan = load_plan()
    except (ValidationError, ValueError) as err:
        logger.error("bad configuration: %s", err)
        sys.exit(2)
    sys.exit(asyncio.run(_main(plan)))
