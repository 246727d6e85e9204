"""The house reads top-down: no module imports from a layer above its own.

    core (words, rules, Temporal names)
      ← store, whatsapp
        ← activities, workflows          (workflows reference activities by method)
          ← boot                         (start-up: store + Temporal client)
            ← api, worker.py, cli, devstack, bench

docs/architecture.md draws the same picture. A new import that crosses it fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {
    "core",
    "store",
    "whatsapp",
    "activities",
    "workflows",
    "boot",
    "api",
    "worker",
    "cli",
    "devstack",
    "bench",
}
# What each part may import from the project (itself always).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "store": {"core"},
    "whatsapp": {"core"},
    "activities": {"core", "store", "whatsapp"},
    "workflows": {"core", "activities"},
    "boot": {"core", "store"},
    "api": {"core", "store", "whatsapp", "workflows", "boot"},
    "worker": {"core", "store", "whatsapp", "activities", "workflows", "boot"},
    "cli": {"core", "whatsapp"},
    "devstack": {"core", "whatsapp"},
    "bench": FIRST_PARTY - {"bench", "cli", "devstack"},
}


def _sources(part: str) -> list[Path]:
    single = ROOT / f"{part}.py"
    return [single] if single.exists() else sorted((ROOT / part).rglob("*.py"))


def _imported_parts(path: Path) -> set[str]:
    parts = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        parts |= {name.split(".")[0] for name in names} & FIRST_PARTY
    return parts


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_no_import_reaches_above_its_layer(part: str) -> None:
    crossing = {
        f"{path.relative_to(ROOT)} imports {imported}"
        for path in _sources(part)
        for imported in _imported_parts(path) - ALLOWED[part] - {part}
    }
    assert not crossing, sorted(crossing)


def test_every_part_is_placed() -> None:
    top_level = {
        path.stem if path.is_file() else path.name
        for path in ROOT.iterdir()
        if (path.suffix == ".py" or (path / "__init__.py").exists()) and path.name not in ("tests",)
    }
    assert top_level == set(ALLOWED)


def test_imports_are_seen() -> None:
    assert _imported_parts(ROOT / "worker.py") == {
        "activities",
        "boot",
        "core",
        "whatsapp",
        "workflows",
    }
