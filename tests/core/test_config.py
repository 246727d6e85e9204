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


STRONG = {
    "API_TOKEN": "tok-8f3a1c9e5b7d2f40",
    "WHATSAPP_APP_SECRET": "0c1d2e3f4a5b6c7d8e9f",
    "WHATSAPP_VERIFY_TOKEN": "verify-6b1e9d3a7c2f",
    "CONVERSATION_KEY_SECRET": "key-e4a9c2b7f1d83650",
}


def _production(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    for name, value in {**STRONG, **overrides}.items():
        monkeypatch.setenv(name, value)


def test_production_accepts_strong_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch)
    settings = Settings(_env_file=None)
    assert settings.environment == "production"
    assert settings.api_token.get_secret_value() == STRONG["API_TOKEN"]


@pytest.mark.parametrize("name", sorted(STRONG))
@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", "at least 16 characters"),
        ("x", "at least 16 characters"),
        ("y" * 15, "at least 16 characters"),
        ("  " + "z" * 14 + "  ", "at least 16 characters"),  # padding does not count
        (DEV_PLACEHOLDER, "placeholder"),
        (" change-me", "placeholder"),
        ("change-me ", "placeholder"),
    ],
    ids=["empty", "1-char", "15-chars", "padded-14", "placeholder", "lead-space", "trail-space"],
)
def test_production_refuses_weak_secrets(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, rule: str
) -> None:
    _production(monkeypatch, **{name: value})
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    message = str(refused.value)
    assert name in message and rule in message
    # Only the offending variable is named, and no value appears, weak or strong.
    assert all(other not in message for other in STRONG if other != name)
    assert all(secret not in message for secret in STRONG.values())
    assert "input_value" not in message  # pydantic would otherwise quote the raw input
    if rule != "placeholder":  # the placeholder is public; anything else is not repeated
        assert repr(value) not in message and repr(value.strip()) not in message


def test_sixteen_characters_are_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch, CONVERSATION_KEY_SECRET="q" * 16)
    assert Settings(_env_file=None).conversation_key_secret.get_secret_value() == "q" * 16


def test_development_accepts_the_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in STRONG:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    settings = Settings(_env_file=None)
    assert settings.environment == "development"
    assert settings.api_token.get_secret_value() == DEV_PLACEHOLDER
    monkeypatch.setenv("API_TOKEN", "")
    assert Settings(_env_file=None).api_token.get_secret_value() == ""


def test_development_listens_on_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # The placeholder secrets are only safe where nobody else can reach them.
    for name in ("ENVIRONMENT", "API_HOST", "API_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert (settings.environment, settings.api_host, settings.api_port) == (
        "development",
        "127.0.0.1",
        8000,
    )


def test_python_m_api_binds_the_configured_host(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    import api.app

    for name in ("ENVIRONMENT", "API_HOST", "API_PORT"):
        monkeypatch.delenv(name, raising=False)
    served: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options))
    monkeypatch.setattr(api.app, "get_settings", lambda: Settings(_env_file=None))
    api.app.main()
    assert (served["host"], served["port"]) == ("127.0.0.1", 8000)


@pytest.mark.parametrize(("days", "accepted"), [(0, True), (1, False), (2, True), (90, True)])
def test_audit_retention_is_forever_or_longer_than_a_window(
    monkeypatch: pytest.MonkeyPatch, days: int, accepted: bool
) -> None:
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", str(days))
    if accepted:
        assert Settings(_env_file=None).audit_retention_days == days
    else:
        with pytest.raises(ValidationError, match="audit_retention_days"):
            Settings(_env_file=None)


def test_audit_retention_defaults_to_ninety_days() -> None:
    assert Settings(_env_file=None).audit_retention_days == 90


def test_the_worker_runs_workflows_outside_the_sandbox_unless_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None).workflow_sandbox is False
    monkeypatch.setenv("WORKFLOW_SANDBOX", "true")
    assert Settings(_env_file=None).workflow_sandbox is True
