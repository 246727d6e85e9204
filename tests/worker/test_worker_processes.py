"""``WORKER_PROCESSES``: the worker as a group of processes that start, stop and fail together."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

# Stands in for ``python -m worker``: records its metrics address, then waits for SIGTERM
# (recording that it got it) or, on port 9101, crashes with exit code 3.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    out = Path(sys.argv[1]) / str(os.getpid())
    address = os.environ.get("WORKER_METRICS_ADDRESS", "")
    out.write_text(address + " " + os.environ["WORKER_PROCESSES"] + "\\n")
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(1))
    crash = address.endswith(":9101") and os.environ.get("CRASH") == "1"
    deadline = time.monotonic() + 30
    while not stopped and time.monotonic() < deadline:
        time.sleep(0.05)
        if crash and time.monotonic() > deadline - 29:
            sys.exit(3)
    out.write_text(out.read_text() + ("terminated\\n" if stopped else "timed out\\n"))
    """
)


def _group(tmp_path: Path, *, crash: bool) -> subprocess.Popen[bytes]:
    child = [sys.executable, "-c", CHILD, str(tmp_path)]
    parent = (
        "import sys; from worker import run_processes; "
        f"sys.exit(run_processes(2, '127.0.0.1:9100', command={child!r}))"
    )
    env = {"PATH": "/usr/bin:/bin", "CRASH": "1" if crash else "0"}
    return subprocess.Popen(
        [sys.executable, "-c", parent], cwd=Path(__file__).resolve().parents[2], env=env
    )


def _records(tmp_path: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        records = [p.read_text() for p in tmp_path.iterdir()]
        if len(records) == count:
            return records
        time.sleep(0.05)
    raise AssertionError(f"{count} children did not start")


def test_each_process_gets_its_own_metrics_port_and_sigterm(tmp_path: Path) -> None:
    group = _group(tmp_path, crash=False)
    started = _records(tmp_path, 2)
    assert sorted(r.split()[0] for r in started) == ["127.0.0.1:9100", "127.0.0.1:9101"]
    assert all(r.split()[1] == "1" for r in started)  # a child never forks again
    group.send_signal(signal.SIGTERM)
    assert group.wait(timeout=20) == 0
    assert all(r.endswith("terminated\n") for r in _records(tmp_path, 2))


def test_a_crashed_process_stops_the_group_with_its_code(tmp_path: Path) -> None:
    group = _group(tmp_path, crash=True)
    assert group.wait(timeout=20) == 3
    survivor = [r for r in _records(tmp_path, 2) if ":9100" in r]
    assert survivor and survivor[0].endswith("terminated\n")
