"""Access to Meta's payload samples in ``shared/fixtures/meta-webhooks`` (beside the repo)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# CI clones the repository with ``shared/`` beside it, as in the development checkout.
SAMPLES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "meta-webhooks"


def sample_bytes(name: str) -> bytes:
    return (SAMPLES_DIR / name).read_bytes()


def sample_json(name: str) -> Any:
    return json.loads(sample_bytes(name))


def sample_names() -> list[str]:
    return sorted(path.name for path in SAMPLES_DIR.glob("*.json"))
