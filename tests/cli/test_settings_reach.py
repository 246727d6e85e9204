"""``wa-sessions settings`` and the reaching fields: quiet hours, time zone, keywords, template.

The API replaces the whole settings document on each save, so the command must send back
everything it was not told to change.
"""

from __future__ import annotations

from typing import Any

import httpx

from cli import render
from tests.cli.conftest import API_TOKEN, Cli
from tests.cli.test_commands import _create_account

MESSAGE = "Hi {contact_firstname}, still there? {company_name}"
# What every save changes whatever was given.
BOOKKEEPING = ("updated_at", "version")


async def _saved(cli: Cli) -> dict[str, Any]:
    """The settings as the API returns them (not as the command prints them)."""
    async with httpx.AsyncClient(
        base_url=cli.api_url, headers={"Authorization": f"Bearer {API_TOKEN}"}
    ) as api:
        response = await api.get(f"/v1/accounts/{cli.account}/session-settings")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _without(settings: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in settings.items() if key not in (*keys, *BOOKKEEPING)}


async def test_the_reaching_fields_are_set_shown_and_kept(cli: Cli) -> None:
    await _create_account(cli)
    shown = await cli.ok("settings")
    assert "quiet_hours:  off" in shown
    assert "timezone:     UTC" in shown
    assert "opt_out:      STOP" in shown
    assert "opt_in:       START" in shown
    assert "template:     off" in shown

    out = await cli.ok(
        "settings",
        "--enable",
        "--message",
        MESSAGE,
        "--quiet-hours",
        "22:00-07:00",
        "--timezone",
        "Europe/Berlin",
        "--opt-out-keywords",
        "STOP, Unsubscribe",
        "--opt-in-keywords",
        "START",
        "--template",
        "session_follow_up:en_US",
        "--template-param",
        "{contact_firstname}",
        "--template-param",
        "{company_name} team",
    )
    assert "Settings saved successfully" in out
    expected = {
        "enabled": True,
        "message": MESSAGE,
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "timezone": "Europe/Berlin",
        "opt_out_keywords": ["STOP", "Unsubscribe"],
        "opt_in_keywords": ["START"],
        "fallback_template": {
            "name": "session_follow_up",
            "language": "en_US",
            "body_parameters": ["{contact_firstname}", "{company_name} team"],
        },
    }
    saved = await _saved(cli)
    assert {key: saved[key] for key in expected} == expected

    shown = await cli.ok("settings")
    assert "quiet_hours:  22:00-07:00" in shown
    assert "timezone:     Europe/Berlin" in shown
    assert "opt_out:      STOP, Unsubscribe" in shown
    assert "template:     session_follow_up (en_US)" in shown
    assert "  {{1}}:      {contact_firstname}" in shown
    assert "  {{2}}:      {company_name} team" in shown

    # One option changes one field: everything else is sent back as it was saved.
    await cli.ok("settings", "--disable")
    disabled = await _saved(cli)
    assert (disabled["enabled"], disabled["version"]) == (False, 2)
    assert _without(disabled, "enabled") == _without(saved, "enabled")

    await cli.ok("settings", "--hours", "3", "--timezone", "America/Sao_Paulo")
    changed = await _saved(cli)
    assert (changed["expiry_hours"], changed["timezone"]) == (3, "America/Sao_Paulo")
    assert _without(changed, "expiry_hours", "timezone") == _without(
        disabled, "expiry_hours", "timezone"
    )


async def test_turning_quiet_hours_and_the_template_off(cli: Cli) -> None:
    await _create_account(cli)
    await cli.ok(
        "settings",
        "--quiet-hours",
        "21:30-08:00",
        "--template",
        "follow_up:pt_BR",
        "--template-param",
        "{contact_firstname}",
    )
    await cli.ok("settings", "--no-quiet-hours", "--no-template", "--opt-in-keywords", "")
    saved = await _saved(cli)
    assert (saved["quiet_hours"], saved["fallback_template"], saved["opt_in_keywords"]) == (
        None,
        None,
        [],
    )
    shown = await cli.ok("settings")
    assert "quiet_hours:  off" in shown
    assert "opt_in:       none" in shown
    assert "template:     off" in shown


async def test_template_params_alone_replace_the_saved_templates(cli: Cli) -> None:
    await _create_account(cli)
    result = await cli.run("settings", "--template-param", "{contact_firstname}")
    assert result.exit_code == 1
    assert "no template is saved" in result.stderr

    await cli.ok(
        "settings", "--template", "follow_up:en", "--template-param", "a", "--template-param", "b"
    )
    await cli.ok("settings", "--template-param", "{company_name}")
    assert (await _saved(cli))["fallback_template"] == {
        "name": "follow_up",
        "language": "en",
        "body_parameters": ["{company_name}"],
    }
    # --template alone is a template without parameters.
    await cli.ok("settings", "--template", "plain_notice:en")
    assert (await _saved(cli))["fallback_template"] == {
        "name": "plain_notice",
        "language": "en",
        "body_parameters": [],
    }


async def test_refused_values_name_the_field_and_change_nothing(cli: Cli) -> None:
    await _create_account(cli)
    before = await _saved(cli)
    for args, field, words in [
        (["--quiet-hours", "22:00-22:00"], "quiet_hours:", "must differ"),
        (["--quiet-hours", "25:00-07:00"], "quiet_hours.start:", "HH:MM"),
        (["--timezone", "Mars/Olympus"], "timezone:", "IANA"),
        (["--opt-out-keywords", "STOP,,HALT"], "opt_out_keywords.1:", "empty"),
        (["--opt-in-keywords", "stop"], "opt_in_keywords:", "both"),
        (["--template", "Hello World!:en"], "fallback_template.name:", "lowercase"),
        (["--template", "follow_up:english"], "fallback_template.language:", "en_US"),
        (
            ["--template", "follow_up:en", "--template-param", "{contact_age}"],
            "fallback_template.body_parameters.0:",
            "{contact_age}",
        ),
    ]:
        result = await cli.run("settings", *args)
        assert result.exit_code == 1, (args, result.output)
        assert "Settings not saved" in result.stderr
        assert field in result.stderr and words in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output
    assert await _saved(cli) == before


async def test_malformed_options_are_refused_before_any_request(cli: Cli) -> None:
    for args, words in [
        (["--quiet-hours", "2200"], "START-END"),
        (["--template", "follow_up"], "NAME:LANGUAGE"),
        (["--quiet-hours", "22:00-07:00", "--no-quiet-hours"], "not both"),
        (["--template", "a:en", "--no-template"], "not both"),
        (["--template-param", "x", "--no-template"], "not both"),
    ]:
        # No account exists: these must fail on the options alone.
        result = await cli.run("settings", *args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output, (args, result.output)


def test_render_leaves_out_what_an_older_server_does_not_return() -> None:
    old = {"enabled": False, "expiry_hours": 23, "message": "Hello there"}
    assert render.settings(old).splitlines() == [
        "enabled:      no",
        "expiry_hours: 23",
        "message:      Hello there",
    ]


def test_render_of_every_field() -> None:
    text = render.settings(
        {
            "enabled": True,
            "expiry_hours": 4,
            "message": "Hi {contact_firstname}",
            "quiet_hours": {"start": "22:00", "end": "07:00"},
            "timezone": "Europe/Berlin",
            "opt_out_keywords": ["STOP", "Unsubscribe"],
            "opt_in_keywords": [],
            "fallback_template": {
                "name": "follow_up",
                "language": "en_US",
                "body_parameters": ["{contact_firstname}"],
            },
        }
    )
    assert text.splitlines() == [
        "enabled:      yes",
        "expiry_hours: 4",
        "message:      Hi {contact_firstname}",
        "quiet_hours:  22:00-07:00",
        "timezone:     Europe/Berlin",
        "opt_out:      STOP, Unsubscribe",
        "opt_in:       none",
        "template:     follow_up (en_US)",
        "  {{1}}:      {contact_firstname}",
    ]
