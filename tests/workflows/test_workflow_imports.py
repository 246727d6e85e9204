"""A workflow module never imports httpx, SQLAlchemy or anything doing I/O.

docs/architecture.md#layers: the workflow is orchestration only.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("httpx", "sqlalchemy", "aiosqlite", "asyncpg", "fastapi", "uvicorn")


def test_workflow_module_pulls_in_no_io_library() -> None:
    probe = (
        "import sys, workflows.conversation; "
        f"print(','.join(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
