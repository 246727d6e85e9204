"""The run command (``python -m devstack``) as a user runs it: a real subprocess, real ports.

One scenario, because each start costs a dev server: the stack comes up in sandbox mode with the
demo account; a signed webhook whose message is 1 h − 3 s old yields the default reminder in the
sandbox outbox; the Web UI answers and the visibility queries of ``devstack.queries`` find the
sessions; SIGINT stops every child and frees every port with exit status 0; a restart on the same
data directory keeps sessions and settings and sends no second reminder; a child dying on its
own takes the stack down with a non-zero status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from core.config import Settings
from core.temporal import connect
from devstack import queries
from devstack.plan import (
    DEMO_ACCOUNT_ID,
    DEMO_COMPANY_NAME,
    DEMO_PHONE_NUMBER_ID,
    PID_FILE,
)
from tests.meta_samples import sample_json
from tests.support import eventually, free_port
from whatsapp.signature import SIGNATURE_HEADER, sign

pytestmark = pytest.mark.devserver

ROOT = Path(__file__).resolve().parents[2]
API_TOKEN = "devstack-test-token"
APP_SECRET = "devstack-test-app-secret"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}

REMINDED = "16505551234"  # wrote 1 h − 3 s ago: reminded within seconds
WAITING = "447700900123"  # wrote 30 min ago: reminder due in 30 min
DEFAULT_REMINDER = "Hi Sheena! Following up on our conversation. Still interested? Let me know! 😊"


@dataclass
class Ports:
    api: int = field(default_factory=free_port)
    sandbox: int = field(default_factory=free_port)
    temporal: int = field(default_factory=free_port)
    ui: int = field(default_factory=free_port)

    def all(self) -> dict[str, int]:
        return {"api": self.api, "sandbox": self.sandbox, "temporal": self.temporal, "ui": self.ui}


class Stack:
    """One ``python -m devstack`` subprocess, its output in a file."""

    def __init__(self, *, env: dict[str, str], cwd: Path, log: Path, ports: Ports) -> None:
        self.env, self.cwd, self.log_path, self.ports = env, cwd, log, ports
        self.process: asyncio.subprocess.Process | None = None
        self.pids: dict[str, int] = {}
        self.api = f"http://127.0.0.1:{ports.api}"
        self.outbox = f"http://127.0.0.1:{ports.sandbox}/_sandbox/messages"

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "devstack",
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def fail(self, why: str) -> None:
        pytest.fail(f"{why}\n--- devstack output (tail) ---\n{self.output()[-6000:]}")

    async def wait_ready(self, http: httpx.AsyncClient, *, timeout: float = 60) -> None:
        assert self.process is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self.process.returncode is not None:
                self.fail(f"devstack exited with {self.process.returncode} before readyz")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{self.api}/readyz")).status_code == 200:
                    break
            if asyncio.get_running_loop().time() > deadline:
                self.fail(f"readyz not 200 within {timeout}s")
            await asyncio.sleep(0.25)
        # The supervisor creates the demo account right after readyz; wait for the banner.
        while "Press Ctrl-C" not in self.output():
            if asyncio.get_running_loop().time() > deadline + 15:
                self.fail("no banner after readyz")
            await asyncio.sleep(0.1)
        pid_file = Path(self.env["DATA_DIR"]) / PID_FILE
        self.pids = {name: int(pid) for name, pid in json.loads(pid_file.read_text()).items()}

    async def signal_and_wait(self, signum: int, *, timeout: float = 45) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signum)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.fail(f"devstack still running {timeout}s after signal {signum}")
            raise

    async def wait_exit(self, *, timeout: float = 45) -> int:
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.fail(f"devstack still running {timeout}s later")
            raise

    def cleanup(self) -> None:
        """Whatever a failed test left running goes (children are in their own groups)."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
        for name, pid in self.pids.items():
            if name != "devstack":
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)


def stack_environment(data_dir: Path, ports: Ports) -> dict[str, str]:
    # Nothing from the outer environment may pick real mode, another database or other ports.
    ours = {name.upper() for name in Settings.model_fields}
    env = {name: value for name, value in os.environ.items() if name not in ours}
    pythonpath = [str(ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(pythonpath),
            "DATA_DIR": str(data_dir),
            "API_PORT": str(ports.api),
            "SANDBOX_PORT": str(ports.sandbox),
            "TEMPORAL_ADDRESS": f"127.0.0.1:{ports.temporal}",
            "TEMPORAL_UI_URL": f"http://localhost:{ports.ui}",
            "API_TOKEN": API_TOKEN,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "CONVERSATION_KEY_SECRET": "devstack-test-key-secret",
        }
    )
    return env


@pytest.fixture
async def make_stack(tmp_path: Path) -> AsyncIterator[Callable[[], Stack]]:
    """Builds stacks sharing one data directory, ports and environment (a restart reuses them)."""
    ports = Ports()
    env = stack_environment(tmp_path / "data", ports)
    stacks: list[Stack] = []

    def build() -> Stack:
        stack = Stack(
            env=env, cwd=tmp_path, log=tmp_path / f"devstack-{len(stacks)}.log", ports=ports
        )
        stacks.append(stack)
        return stack

    try:
        yield build
    finally:
        for stack in stacks:
            stack.cleanup()


def text_webhook(*, wa_id: str, name: str, sent_at: datetime) -> bytes:
    """Meta's text-message webhook for the demo number, from ``wa_id``, sent at ``sent_at``."""
    payload: dict[str, Any] = sample_json("message-text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = DEMO_PHONE_NUMBER_ID
    value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id}]
    message = value["messages"][0]
    message["from"] = wa_id
    message["id"] = f"wamid.devstack-{uuid.uuid4().hex}"
    message["timestamp"] = str(int(sent_at.timestamp()))
    return json.dumps(payload).encode()


async def post_webhook(http: httpx.AsyncClient, stack: Stack, body: bytes) -> None:
    response = await http.post(
        f"{stack.api}/webhooks/whatsapp",
        content=body,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(APP_SECRET.encode(), body),
        },
    )
    assert response.status_code == 200, response.text


async def outbox(http: httpx.AsyncClient, stack: Stack) -> list[dict[str, Any]]:
    response = await http.get(stack.outbox)
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def get_json(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await http.get(url, headers=AUTH)
    assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


async def workflow_ids(client: Client, query: str) -> set[str]:
    return {execution.id async for execution in client.list_workflows(query)}


def assert_gone(stack: Stack) -> None:
    for name, pid in stack.pids.items():
        status = Path(f"/proc/{pid}/status")
        alive = status.exists() and "\nState:\tZ" not in status.read_text()
        assert not alive, f"{name} (pid {pid}) still running"
    for name, port in stack.ports.all().items():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                pytest.fail(f"{name} port {port} still in use")


async def test_run_command(make_stack: Callable[[], Stack]) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        # --- first start: sandbox mode, demo account -------------------------------------
        stack = make_stack()
        await stack.start()
        await stack.wait_ready(http)
        assert set(stack.pids) == {"devstack", "temporal", "sandbox", "worker", "api"}
        output = stack.output()
        for prefix in ("[temporal]", "[sandbox]", "[worker]", "[api]"):
            assert prefix in output
        assert f"http://localhost:{stack.ports.api}/docs" in output
        assert f"http://localhost:{stack.ports.ui}/namespaces/default/workflows" in output
        assert stack.outbox in output

        account_url = f"{stack.api}/v1/accounts/{DEMO_ACCOUNT_ID}"
        account = await get_json(http, account_url)
        assert account["company_name"] == DEMO_COMPANY_NAME
        assert account["phone_number_id"] == DEMO_PHONE_NUMBER_ID

        # Enable with 1 hour and the default message, as the settings page would send it.
        current = await get_json(http, f"{account_url}/session-settings")
        saved = await http.put(
            f"{account_url}/session-settings",
            json={"enabled": True, "expiry_hours": 1, "message": current["message"]},
            headers=AUTH,
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["message"] == "Settings saved successfully"

        # --- a backdated message earns its reminder within seconds -------------------------
        now = datetime.now(UTC)
        reminded_at = now - timedelta(hours=1) + timedelta(seconds=3)
        waiting_at = now - timedelta(minutes=30)
        await post_webhook(
            http, stack, text_webhook(wa_id=REMINDED, name="Sheena Nelson", sent_at=reminded_at)
        )
        await post_webhook(
            http, stack, text_webhook(wa_id=WAITING, name="Oliver Jones", sent_at=waiting_at)
        )
        sent = await eventually(
            lambda: outbox(http, stack),
            lambda items: any(item["wa_id"] == REMINDED for item in items),
            timeout=20,
            interval=0.25,
        )
        assert [(m["wa_id"], m["phone_number_id"], m["body"]) for m in sent] == [
            (REMINDED, DEMO_PHONE_NUMBER_ID, DEFAULT_REMINDER)
        ]

        # --- the Temporal Web UI and its visibility queries -------------------------------
        ui = await http.get(f"http://127.0.0.1:{stack.ports.ui}/")
        assert ui.status_code == 200

        session_url = f"{account_url}/sessions"
        reminded = await eventually(
            lambda: get_json(http, f"{session_url}/{REMINDED}"),
            lambda body: body["state"] == "reminded",
        )
        waiting = await get_json(http, f"{session_url}/{WAITING}")
        assert waiting["state"] == "waiting"
        assert datetime.fromisoformat(reminded["last_customer_message_at"]) == reminded_at.replace(
            microsecond=0
        )
        assert reminded["temporal_ui_url"].startswith(f"http://localhost:{stack.ports.ui}/")

        client = await connect(address=f"127.0.0.1:{stack.ports.temporal}", namespace="default")
        both = {reminded["workflow_id"], waiting["workflow_id"]}
        await eventually(
            lambda: workflow_ids(client, queries.DEMO_ACCOUNT_SESSIONS),
            lambda ids: ids == both,
        )
        await eventually(
            lambda: workflow_ids(client, queries.reminders_due_in_next_hour()),
            lambda ids: ids == {waiting["workflow_id"]},
        )
        await eventually(
            lambda: workflow_ids(client, queries.REMINDED_SESSIONS),
            lambda ids: ids == {reminded["workflow_id"]},
        )
        await eventually(
            lambda: workflow_ids(client, queries.WAITING_SESSIONS),
            lambda ids: ids == {waiting["workflow_id"]},
        )

        # --- Ctrl-C: everything stops, in order, exit 0 -----------------------------------
        assert await stack.signal_and_wait(signal.SIGINT) == 0, stack.output()[-4000:]
        assert_gone(stack)
        assert not (Path(stack.env["DATA_DIR"]) / PID_FILE).exists()
        output = stack.output()
        order = [output.index(f"stopping {name} ") for name in ("api", "worker", "sandbox")]
        order.append(output.index("stopping temporal "))
        assert order == sorted(order)

        # --- restart on the same data directory: sessions and settings persist ------------
        again = make_stack()
        await again.start()
        await again.wait_ready(http)
        assert "demo account 'demo' exists" in again.output()
        settings = await get_json(http, f"{account_url}/session-settings")
        assert (settings["enabled"], settings["expiry_hours"]) == (True, 1)
        after = await get_json(http, f"{session_url}/{REMINDED}")
        assert after["last_customer_message_at"] == reminded["last_customer_message_at"]
        assert after["state"] == "reminded"
        assert after["workflow_id"] == reminded["workflow_id"]
        still_waiting = await get_json(http, f"{session_url}/{WAITING}")
        assert still_waiting["last_customer_message_at"] == waiting["last_customer_message_at"]
        # The reminded session does not remind again after the restart.
        await asyncio.sleep(3)
        assert await outbox(http, again) == []

        # --- a child dying on its own takes the stack down, non-zero ----------------------
        os.kill(again.pids["worker"], signal.SIGKILL)
        assert await again.wait_exit() != 0
        assert "worker exited unexpectedly" in again.output()
        assert_gone(again)
