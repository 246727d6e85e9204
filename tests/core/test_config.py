"""Configuration: the defaults a fresh clone runs with, and the settings refused at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.config import DEV_PLACEHOLDER, Settings


def test_the_graph_api_version_defaults_to_the_current_one() -> None:
    assert Settings(_env_file=None).whatsapp_api_version == "v26.0"


def test_the_graph_api_version_can_be_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_API_VERSION", "v25.0")
    assert Settings(_env_file=None).whatsapp_api_version == "v25.0"


@pytest.mark.parametrize("version", ["26.0", "v26", "/v26.0", "v26.0/", "latest", ""])
def test_a_malformed_graph_api_version_is_refused(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    monkeypatch.setenv("WHATSAPP_API_VERSION", version)
    with pytest.raises(ValidationError, match="whatsapp_api_version"):
        Settings(_env_file=None)


def test_production_refuses_the_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("API_TOKEN", "a-real-token")
    with pytest.raises(ValidationError, match="WHATSAPP_APP_SECRET") as refused:
        Settings(_env_file=None)
    assert "API_TOKEN" not in str(refused.value)
    for name in ("WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "CONVERSATION_KEY_SECRET"):
        monkeypatch.setenv(name, f"real-{name}")
    assert Settings(_env_file=None).environment == "production"
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("API_TOKEN", DEV_PLACEHOLDER)
    assert Settings(_env_file=None).environment == "development"


def test_the_worker_runs_workflows_outside_the_sandbox_unless_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None).workflow_sandbox is False
    monkeypatch.setenv("WORKFLOW_SANDBOX", "true")
    assert Settings(_env_file=None).workflow_sandbox is True
