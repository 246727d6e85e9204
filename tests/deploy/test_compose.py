"""Static checks of docker-compose.yml and the Dockerfile (there is no Docker engine in CI).

What a broken deployment would show only at ``docker compose up`` is checked here instead: the
file parses, images are pinned, the app's environment uses exactly the ``Settings`` names, ports
agree with each other, dependencies exist and wait for the one-shot jobs, health checks exist,
no secret is written down, and the Dockerfile runs modules that exist.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from core.config import Settings
from core.temporal_names import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

APP_SERVICES = ("api", "worker")
SETTINGS_ENV = {name.upper() for name in Settings.model_fields}
# Read by ``api.app.main`` (where uvicorn listens), not by ``Settings``.
API_SERVER_ENV = {"API_HOST", "API_PORT"}
REQUIRED_APP_ENV = {
    "ENVIRONMENT",
    "DATABASE_URL",
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_TASK_QUEUE",
    "TEMPORAL_UI_URL",
    "API_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "WHATSAPP_API_BASE_URL",
    "WHATSAPP_API_VERSION",
    "CONVERSATION_KEY_SECRET",
}
SECRET_ENV = {
    "API_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "CONVERSATION_KEY_SECRET",
    "POSTGRES_PASSWORD",
    "POSTGRES_PWD",
    "SQL_PASSWORD",
}
REQUIRED_HEALTHCHECKS = ("postgres", "temporal", "api")

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str) -> str:
    """``value`` as compose would see it with no variable set: defaults applied, required
    variables replaced by ``<NAME>``, ``$$`` unescaped."""

    def substitute(match: re.Match[str]) -> str:
        op = match.group("op") or ""
        if op.endswith("-"):
            return match.group("arg")
        return f"<{match.group('name')}>"

    return _VARIABLE.sub(substitute, value).replace("$$", "$")


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        pairs = (item.split("=", 1) for item in environment)
        return dict(pairs)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def port_of(url_or_address: str) -> int:
    value = interpolate(url_or_address)
    if "://" not in value:
        value = "tcp://" + value
    port = urlsplit(value).port
    assert port is not None, f"no port in {url_or_address!r}"
    return port


def published(service: dict[str, Any]) -> dict[int, int]:
    """Container port → host port of the ``ports`` entries (short syntax)."""
    mapping = {}
    for entry in service.get("ports", []):
        parts = interpolate(str(entry)).split("/")[0].split(":")
        mapping[int(parts[-1])] = int(parts[-2] if len(parts) > 1 else parts[-1])
    return mapping


def container_ports(service: dict[str, Any]) -> set[int]:
    return set(published(service)) | {int(port) for port in service.get("expose", [])}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def test_has_the_production_services(services: dict[str, dict[str, Any]]) -> None:
    assert {"postgres", "temporal", "temporal-ui", "api", "worker"} <= set(services)
    images = {name: str(service.get("image", "")) for name, service in services.items()}
    assert images["temporal"].startswith("temporalio/server:")
    assert images["temporal-ui"].startswith("temporalio/ui:")
    assert images["postgres"].startswith("postgres:")


def test_every_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "build" in service and "image" not in service:
            continue
        image = interpolate(str(service["image"]))
        if "build" in service:
            continue  # our own image: tagged by the build, not pulled
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag and tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d", tag), f"{name}: {image} should name a version"


def test_no_auto_setup(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert "auto-setup" not in str(service.get("image", "")), name
        assert "autosetup" not in str(service.get("command", "")), name


def test_schema_job_runs_admin_tools_sql_tool(services: dict[str, dict[str, Any]]) -> None:
    jobs = [
        (name, service)
        for name, service in services.items()
        if str(service.get("image", "")).startswith("temporalio/admin-tools:")
    ]
    assert len(jobs) >= 2, "a schema job and a namespace/search-attribute job"
    scripts = {name: _mounted_script(service) for name, service in jobs if _mounted_script(service)}
    schema_jobs = [name for name, text in scripts.items() if "temporal-sql-tool" in text]
    assert schema_jobs, "no job runs temporal-sql-tool"
    text = scripts[schema_jobs[0]]
    assert "setup-schema -v 0.0" in text
    assert "update-schema" in text
    assert "postgresql/v12" in text
    env = env_of(services[schema_jobs[0]])
    assert env["SQL_PLUGIN"] == "postgres12"
    assert env["TEMPORAL_DB"] == "temporal"
    assert env["TEMPORAL_VISIBILITY_DB"] == "temporal_visibility"
    assert "postgres" in services[schema_jobs[0]]["depends_on"]
    # The server starts only on a migrated schema.
    assert services["temporal"]["depends_on"][schema_jobs[0]] == {
        "condition": "service_completed_successfully"
    }


def test_search_attribute_job_matches_the_code(services: dict[str, dict[str, Any]]) -> None:
    scripts = [_mounted_script(service) for service in services.values()]
    [text] = [script for script in scripts if "search-attribute create" in script]
    for key in SEARCH_ATTRIBUTES:
        kind = key.indexed_value_type.name.capitalize()  # KEYWORD → Keyword, as the CLI spells it
        assert f"{key.name}:{kind}" in text, f"{key.name} ({kind}) not registered"
    assert "namespace create" in text


def _mounted_script(service: dict[str, Any]) -> str:
    """The text of the ``deploy/`` script a one-shot job runs, if it mounts one."""
    command = service.get("command", [])
    words = command if isinstance(command, list) else shlex.split(str(command))
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if target in words:
            path = (ROOT / source).resolve()
            assert path.is_file(), f"{source} is missing"
            assert path.is_relative_to(ROOT / "deploy")
            return path.read_text()
    return ""


def test_app_env_uses_the_settings_names(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        keys = set(env_of(services[name]))
        unknown = keys - SETTINGS_ENV - API_SERVER_ENV
        assert not unknown, f"{name}: {sorted(unknown)} are not Settings fields"
        missing = REQUIRED_APP_ENV - keys
        assert not missing, f"{name}: {sorted(missing)} missing"
        env = env_of(services[name])
        assert env["ENVIRONMENT"] == "production"
        assert interpolate(env["DATABASE_URL"]).startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in interpolate(env["DATABASE_URL"])


def test_secrets_are_required_variables_never_literals(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for key, value in env_of(service).items():
            if key in SECRET_ENV:
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), (
                    f"{name}.{key} must be ${{VAR:?message}}, not {value!r}"
                )
        database_url = env_of(service).get("DATABASE_URL")
        if database_url is not None:
            credentials = re.match(
                r"[a-z0-9+]+://(?P<user>\$\{[^}]*\}|[^:@]+):(?P<password>.+)@", database_url
            )
            assert credentials, f"{name}: DATABASE_URL has no password"
            assert re.fullmatch(r"\$\{POSTGRES_PASSWORD:\?[^}]+\}", credentials["password"])


def test_temporal_address_matches_the_server_port(services: dict[str, dict[str, Any]]) -> None:
    grpc_ports = container_ports(services["temporal"])
    for name, service in services.items():
        address = env_of(service).get("TEMPORAL_ADDRESS")
        if address is None:
            continue
        assert interpolate(address).split(":")[0] == "temporal", name
        assert port_of(address) in grpc_ports, f"{name}: {address} vs {sorted(grpc_ports)}"


def test_ui_url_matches_the_published_ui_port(services: dict[str, dict[str, Any]]) -> None:
    ui = services["temporal-ui"]
    ui_container_port = int(env_of(ui).get("TEMPORAL_UI_PORT", "8080"))
    host_ports = published(ui)
    assert ui_container_port in host_ports, "the UI's port is not published"
    for name in APP_SERVICES:
        url = env_of(services[name])["TEMPORAL_UI_URL"]
        assert port_of(url) == host_ports[ui_container_port], name


def test_api_port_healthcheck_and_publication_agree(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    port = int(env_of(api)["API_PORT"])
    assert port in published(api)
    check = " ".join(str(part) for part in api["healthcheck"]["test"])
    [url] = re.findall(r"https?://[^'\" ]+", check)
    assert port_of(url) == port
    assert urlsplit(url).path == "/readyz"


def test_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name in REQUIRED_HEALTHCHECKS:
        test = services[name].get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    temporal_check = " ".join(services["temporal"]["healthcheck"]["test"])
    assert "7233" in temporal_check


def test_dependencies_exist_and_wait_properly(services: dict[str, dict[str, Any]]) -> None:
    one_shots = {
        name
        for name, service in services.items()
        if "restart" in service and str(service["restart"]).startswith("on-failure")
    }
    assert one_shots, "the admin-tools jobs should be one-shots"
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: use the long depends_on syntax"
        for target, condition in depends_on.items():
            assert target in services, f"{name} depends on unknown {target}"
            expected = (
                "service_completed_successfully" if target in one_shots else "service_healthy"
            )
            if target in one_shots or "healthcheck" in services[target]:
                assert condition == {"condition": expected}, f"{name} → {target}"
    for name in APP_SERVICES:
        needs = services[name]["depends_on"]
        assert any(target in one_shots for target in needs), f"{name} starts before setup"


def test_mounted_files_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} missing"


def test_dynamic_config_path_is_mounted(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    path = env_of(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    for volume in temporal.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if path.startswith(target.rstrip("/") + "/"):
            local = ROOT / source / path[len(target.rstrip("/")) + 1 :]
            assert local.is_file(), f"{local} missing"
            assert isinstance(yaml.safe_load(local.read_text()), dict)
            return
    pytest.fail(f"{path} is not on a mounted volume")


def test_app_commands_run_modules_that_exist(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        assert services[name]["build"] == "."
        _assert_runnable(services[name]["command"])


# -- Dockerfile ---------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _assert_runnable(command: list[str] | str) -> None:
    words = command if isinstance(command, list) else shlex.split(command)
    assert words[0] == "python", words
    if words[1] == "-m":
        module = words[2].replace(".", "/")
        assert (ROOT / module / "__main__.py").is_file() or (ROOT / f"{module}.py").is_file()
    else:
        assert (ROOT / words[1]).is_file(), words


def test_dockerfile_base_image_is_pinned() -> None:
    instructions = _dockerfile()
    args = {}
    for keyword, rest in instructions:
        if keyword == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name] = default
    stages: set[str] = set()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert froms
    for rest in froms:
        words = rest.split()
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
        if image in stages:
            continue
        assert image.startswith("python:3.11"), image
        tag = image.split(":", 1)[1]
        assert re.match(r"3\.11\.\d+-slim", tag), f"{image} is not pinned to a patch release"


def test_dockerfile_runs_as_non_root_and_installs_the_project() -> None:
    instructions = _dockerfile()
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "pip wheel" in runs or "pip install ." in runs
    assert "pip install" in runs


def test_dockerfile_cmd_runs_the_api() -> None:
    [cmd] = [rest for keyword, rest in _dockerfile() if keyword == "CMD"]
    words = yaml.safe_load(cmd)  # exec form is a JSON array
    assert words == ["python", "-m", "api"]
    _assert_runnable(words)


def test_dockerfile_copies_what_the_commands_need() -> None:
    copies = [rest.split() for keyword, rest in _dockerfile() if keyword == "COPY"]
    sources = {word for words in copies for word in words[:-1] if not word.startswith("--")}
    # Everything `python -m api` and `python worker.py` import, directly or not.
    for needed in (
        "pyproject.toml",
        "api",
        "worker.py",
        "boot.py",
        "core",
        "store",
        "whatsapp",
        "workflows",
        "activities",
    ):
        assert needed in sources or f"./{needed}" in sources, needed
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored  # local secrets never reach the build context
    for needed in ("pyproject.toml", "README.md", "api", "worker.py"):
        assert needed not in ignored


@pytest.mark.parametrize("script", sorted((ROOT / "deploy").rglob("*.sh")), ids=lambda p: p.name)
def test_deploy_scripts_are_valid_posix_sh(script: Path) -> None:
    assert script.read_text().startswith("#!/bin/sh\n")
    assert "set -eu" in script.read_text()
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh to check the syntax with")
    checked = subprocess.run([sh, "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
