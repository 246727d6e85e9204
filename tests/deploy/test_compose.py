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
    "DATABASE_PASSWORD",
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
    "DATABASE_PASSWORD",
    "POSTGRES_PWD",
    "SQL_PASSWORD",
}
REQUIRED_HEALTHCHECKS = ("postgres", "temporal", "api", "worker")
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"

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
            # The password travels on its own: pasted into the URL, "@", "/" or "%" in it
            # would break the URL (core.config: DATABASE_PASSWORD is set on the parsed URL).
            userinfo = urlsplit(interpolate(database_url)).netloc.rpartition("@")[0]
            assert ":" not in userinfo, f"{name}: DATABASE_URL must not carry a password"
            assert env_of(service)["DATABASE_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_no_password_is_pasted_into_a_url(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    for line in text.splitlines():
        if "://" in line and not line.lstrip().startswith("#"):
            assert "PASSWORD" not in line and "PWD" not in line, line


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
    assert port in container_ports(api)
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


# -- what is reachable from outside -------------------------------------------------------------


def _bindings(service: dict[str, Any]) -> list[tuple[str, int]]:
    """(host address, container port) of the ``ports`` entries; "" is every interface."""
    found = []
    for entry in service.get("ports", []):
        parts = interpolate(str(entry)).split("/")[0].split(":")
        host = parts[0] if len(parts) == 3 else ""
        found.append((host, int(parts[-1])))
    return found


def test_only_the_tls_proxy_listens_on_every_interface(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for host, port in _bindings(service):
            if name == "proxy":
                assert port in (80, 443)
            else:
                assert host == "127.0.0.1", f"{name} publishes {port} on {host or 'all'}"


def test_the_web_ui_is_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    assert _bindings(services["temporal-ui"]) == [("127.0.0.1", 8080)]
    for document in (ROOT / "README.md", ROOT / "docs" / "operating.md"):
        text = document.read_text()
        assert "127.0.0.1:8080" in text, document.name
        assert "authenticating proxy" in text, document.name


def test_the_proxy_serves_the_api_over_tls(services: dict[str, dict[str, Any]]) -> None:
    proxy = services["proxy"]
    assert str(proxy["image"]).startswith("caddy:2.")
    assert {port for _host, port in _bindings(proxy)} == {80, 443}
    assert proxy["depends_on"] == {"api": {"condition": "service_healthy"}}
    mounts = {str(volume).split(":")[1]: str(volume).split(":")[0] for volume in proxy["volumes"]}
    assert (ROOT / mounts["/etc/caddy/Caddyfile"]).resolve() == CADDYFILE
    assert "/data" in mounts, "certificates must survive a restart"
    assert env_of(proxy)["PUBLIC_HOSTNAME"].startswith("${PUBLIC_HOSTNAME")

    caddyfile = CADDYFILE.read_text()
    code = "\n".join(line.split("#")[0] for line in caddyfile.splitlines())
    api_port = int(env_of(services["api"])["API_PORT"])
    assert re.search(rf"^\s*reverse_proxy\s+api:{api_port}\s*$", code, re.MULTILINE)
    assert re.search(r"^\{\$PUBLIC_HOSTNAME(:localhost)?\}\s*\{", code, re.MULTILINE)
    assert re.search(r"respond\s+/metrics\s+404", code), "/metrics must not be public"
    assert "tls internal" not in code  # production gets a public certificate
    assert re.search(r"^\s*log\b", code, re.MULTILINE) is None, "access logs name customers"


def test_the_worker_serves_metrics_and_is_health_checked(
    services: dict[str, dict[str, Any]],
) -> None:
    worker = services["worker"]
    address = env_of(worker)["WORKER_METRICS_ADDRESS"]
    assert interpolate(address).startswith("0.0.0.0:")
    port = port_of(address)
    assert port in container_ports(worker)
    assert not worker.get("ports"), "metrics stay inside the compose network"
    check = " ".join(str(part) for part in worker["healthcheck"]["test"])
    assert "urllib.request" in check  # the image has no curl
    [url] = re.findall(r"https?://[^'\" ]+", check)
    assert port_of(url) == port
    assert urlsplit(url).path == "/metrics"


def test_the_temporal_server_exports_prometheus_metrics(
    services: dict[str, dict[str, Any]],
) -> None:
    temporal = services["temporal"]
    endpoint = env_of(temporal)["PROMETHEUS_ENDPOINT"]
    assert endpoint.startswith("0.0.0.0:")
    assert port_of(endpoint) in container_ports(temporal)
    assert port_of(endpoint) != 7233


def test_postgres_has_connections_for_temporal_and_the_app(
    services: dict[str, dict[str, Any]],
) -> None:
    command = [interpolate(str(word)) for word in services["postgres"]["command"]]
    assert command[0] == "postgres"
    [max_connections] = [
        int(word.split("=", 1)[1]) for word in command if word.startswith("max_connections=")
    ]
    # Temporal's server: 4 services x (20 on `temporal` + 10 on `temporal_visibility`).
    temporal = 4 * (20 + 10)
    env = env_of(services["api"])
    per_app_process = int(interpolate(env["DATABASE_POOL_SIZE"])) + int(
        interpolate(env["DATABASE_MAX_OVERFLOW"])
    )
    app_processes = 10  # e.g. 2 API replicas and 4 workers of 2 processes
    reserved = 10  # superuser slots, the admin jobs, a psql session
    assert max_connections >= temporal + app_processes * per_app_process + reserved


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    """The real parser, where a Docker CLI with the compose v2 plugin is installed (no
    engine needed); the static checks above stand in for it elsewhere."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI installed")
    version = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, check=False
    )
    if version.returncode != 0:
        pytest.skip("the docker CLI has no compose v2 plugin (Debian packages none)")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "POSTGRES_PASSWORD": "p@ss/w%rd-0123456789",
        "API_TOKEN": "x" * 16,
        "WHATSAPP_APP_SECRET": "x" * 16,
        "WHATSAPP_VERIFY_TOKEN": "x" * 16,
        "CONVERSATION_KEY_SECRET": "x" * 16,
    }
    checked = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
