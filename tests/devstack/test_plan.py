"""What the local stack would start, from the configuration: flags, sandbox vs real mode, queries.

No process is started here; ``test_stack.py`` runs the real thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from core.temporal_names import SEARCH_ATTRIBUTES
from devstack import queries
from devstack.banner import banner_lines
from devstack.plan import (
    StackPlan,
    build_plan,
    load_plan,
    search_attribute_flags,
    split_address,
    temporal_command,
)

BINARY = Path("/opt/bin/temporal")


def plan_for(tmp_path: Path, **explicit: str) -> StackPlan:
    """A plan whose only explicitly set service variables are ``explicit``."""
    # model_construct marks exactly the given fields as set, like variables from the environment.
    settings = Settings.model_construct(data_dir=tmp_path / "data", **explicit)  # type: ignore[arg-type]
    return build_plan(settings, environ={"PATH": "/usr/bin", "KEEP": "me"})


def flag_values(command: list[str], flag: str) -> list[str]:
    return [command[i + 1] for i, arg in enumerate(command) if arg == flag]


def test_temporal_command_defaults(tmp_path: Path) -> None:
    command = temporal_command(plan_for(tmp_path), binary=BINARY)

    assert command[:3] == [str(BINARY), "server", "start-dev"]
    assert flag_values(command, "--ip") == ["localhost"]
    assert flag_values(command, "--port") == ["7233"]
    assert flag_values(command, "--ui-port") == ["8233"]
    assert flag_values(command, "--db-filename") == [str(tmp_path / "data" / "temporal.db")]
    assert flag_values(command, "--sqlite-pragma") == ["journal_mode=wal", "synchronous=normal"]
    assert flag_values(command, "--namespace") == ["default"]
    assert flag_values(command, "--log-format") == ["pretty"]
    assert flag_values(command, "--log-level") == ["warn"]
    assert "--headless" not in command


def test_search_attribute_flags_follow_workflow_names() -> None:
    values = flag_values(search_attribute_flags(), "--search-attribute")
    assert [value.split("=")[0] for value in values] == [key.name for key in SEARCH_ATTRIBUTES]
    assert "AccountId=Keyword" in values
    assert "SessionState=Keyword" in values
    assert "ReminderDueAt=Datetime" in values
    assert "WindowClosesAt=Datetime" in values
    assert "LastCustomerMessageAt=Datetime" in values


def test_temporal_address_and_ui_url_pick_the_ports(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        temporal_address="127.0.0.1:7300",
        temporal_ui_url="http://localhost:9300",
        temporal_namespace="sessions",
    )
    command = temporal_command(plan, binary=BINARY)
    assert flag_values(command, "--ip") == ["127.0.0.1"]
    assert flag_values(command, "--port") == ["7300"]
    assert flag_values(command, "--ui-port") == ["9300"]
    assert flag_values(command, "--namespace") == ["sessions"]
    assert plan.web_ui_workflows_url() == "http://localhost:9300/namespaces/sessions/workflows"


def test_sandbox_mode_when_base_url_not_set(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    data_dir = (tmp_path / "data").resolve()

    assert plan.sandbox is not None and plan.sandbox.port == 8081
    assert plan.env["WHATSAPP_API_BASE_URL"] == "http://127.0.0.1:8081"
    assert plan.env["DATABASE_URL"] == f"sqlite+aiosqlite:///{data_dir}/sessions.db"
    assert plan.env["DATA_DIR"] == str(data_dir)
    assert plan.env["API_PORT"] == "8000"
    assert plan.env["KEEP"] == "me"  # the rest of the environment is passed on


def test_explicit_variables_win_over_sandbox_defaults(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        whatsapp_api_base_url="https://graph.facebook.com",
        database_url="postgresql+asyncpg://sessions:s3cret@db/sessions",
    )
    assert plan.sandbox is None
    assert plan.env["WHATSAPP_API_BASE_URL"] == "https://graph.facebook.com"
    assert plan.env["DATABASE_URL"] == "postgresql+asyncpg://sessions:s3cret@db/sessions"

    banner = "\n".join(banner_lines(plan))
    assert "s3cret" not in banner
    assert "_sandbox" not in banner
    assert "real WhatsApp Cloud API at https://graph.facebook.com" in banner


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No service variable in the environment, and a working directory without ``.env``."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_load_plan_reads_environment(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_plan().sandbox is not None
    monkeypatch.setenv("WHATSAPP_API_BASE_URL", "https://graph.example.test")
    monkeypatch.setenv("SANDBOX_PORT", "9999")
    plan = load_plan()
    assert plan.sandbox is None
    assert plan.env["WHATSAPP_API_BASE_URL"] == "https://graph.example.test"


def test_load_plan_reads_dotenv(clean_environment: Path) -> None:
    (clean_environment / ".env").write_text(
        "WHATSAPP_API_BASE_URL=https://graph.example.test\nAPI_PORT=9001\nDATA_DIR=state\n"
    )
    plan = load_plan()
    assert plan.sandbox is None
    assert plan.api.port == 9001
    assert plan.data_dir == (clean_environment / "state").resolve()


def test_split_address() -> None:
    assert split_address("localhost:7233").port == 7233
    assert str(split_address("[::1]:7233")) == "[::1]:7233"
    for bad in ("localhost", "host:port", "host:0", "host:70000"):
        with pytest.raises(ValueError):
            split_address(bad)


def test_banner_names_every_url(tmp_path: Path) -> None:
    banner = "\n".join(banner_lines(plan_for(tmp_path)))
    for expected in (
        "http://localhost:8000/docs",
        "http://localhost:8000/",
        "http://localhost:8233/namespaces/default/workflows",
        "http://127.0.0.1:8081/_sandbox/messages",
        str((tmp_path / "data").resolve()),
        "wa-sessions simulate --from 15551234567 --text hi --ago 59m",
        queries.DEMO_ACCOUNT_SESSIONS,
    ):
        assert expected in banner


def test_banner_cli_commands_follow_the_ports(tmp_path: Path) -> None:
    settings = Settings.model_construct(data_dir=tmp_path, api_port=9000, sandbox_port=9081)
    banner = "\n".join(banner_lines(build_plan(settings, environ={})))
    assert (
        "wa-sessions --api-url http://localhost:9000 simulate --from 15551234567 --text hi"
        " --ago 59m"
    ) in banner
    assert "outbox --sandbox-url http://127.0.0.1:9081" in banner
