"""The supervisor's guards, without a dev server: busy ports, a live or leftover stack."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings
from devstack.plan import PID_FILE, build_plan
from devstack.supervisor import StartupError, Supervisor, check_previous_stack, describe_exit
from tests.support import free_port


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process that looks like a child of a stack on ``tmp_path`` (DATA_DIR in its env)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "devstack"],
        env={**os.environ, "DATA_DIR": str(tmp_path)},
        process_group=0,
    )
    # Until it has exec'd, /proc shows the forked pytest's command line and environment.
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 10
    while cmdline.exists() and b"devstack" not in cmdline.read_bytes():
        assert time.monotonic() < deadline, "sleeper did not start"
        time.sleep(0.01)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def write_pids(tmp_path: Path, **pids: int) -> Path:
    pid_file = tmp_path / PID_FILE
    pid_file.write_text(json.dumps(pids))
    return pid_file


def test_no_pid_file_or_stale_one_is_fine(tmp_path: Path) -> None:
    check_previous_stack(tmp_path / PID_FILE, data_dir=tmp_path)
    (tmp_path / PID_FILE).write_text("not json")
    check_previous_stack(tmp_path / PID_FILE, data_dir=tmp_path)
    # Our own pid (a restart that reuses it) and processes of other data dirs do not count.
    pid_file = write_pids(tmp_path, devstack=os.getpid(), worker=os.getpid())
    check_previous_stack(pid_file, data_dir=tmp_path)


def test_live_supervisor_refused(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    pid_file = write_pids(tmp_path, devstack=sleeper.pid)
    with pytest.raises(StartupError, match=f"another stack \\(pid {sleeper.pid}\\)"):
        check_previous_stack(pid_file, data_dir=tmp_path)


def test_leftover_children_reported(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    pid_file = write_pids(tmp_path, devstack=2**22 + 1, temporal=sleeper.pid)
    with pytest.raises(StartupError, match=f"temporal \\(pid {sleeper.pid}\\).*-{sleeper.pid}"):
        check_previous_stack(pid_file, data_dir=tmp_path)
    # The same pid seen from another data directory is somebody else's process.
    check_previous_stack(pid_file, data_dir=tmp_path / "other")


def test_describe_exit() -> None:
    assert describe_exit(1) == "status 1"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(None) == "still running"


async def test_busy_port_stops_before_starting_anything(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        api_port = busy.getsockname()[1]
        settings = Settings.model_construct(
            temporal_address=f"127.0.0.1:{free_port()}",
            temporal_ui_url=f"http://localhost:{free_port()}",
            data_dir=tmp_path,
            api_port=api_port,
            sandbox_port=free_port(),
        )
        supervisor = Supervisor(build_plan(settings, environ={}))
        with caplog.at_level("ERROR", logger="devstack"):
            assert await asyncio.wait_for(supervisor.run(), 10) == 1
    assert supervisor.children == []
    assert f"API (API_PORT) port {api_port}" in caplog.text
