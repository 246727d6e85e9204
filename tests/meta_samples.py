"""Access to Meta's payload samples in ``tests/fixtures/meta`` (carried by the repository)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLES_DIR = Path(__file__).resolve().parent / "fixtures" / "meta"


def sample_bytes(name: str) -> bytes:
    return (SAMPLES_DIR / name).read_bytes()


def sample_json(name: str) -> Any:
    return json.loads(sample_bytes(name))


def sample_names() -> list[str]:
    return sorted(path.name for path in SAMPLES_DIR.glob("*.json"))
