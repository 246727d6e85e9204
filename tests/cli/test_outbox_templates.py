"""``wa-sessions outbox`` shows template messages by name, language and parameters (texts as
before): the rendering alone, then the command against a real sandbox on loopback (``outbox``
asks the sandbox itself, so no API is needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from cli import render
from tests.cli.conftest import Cli
from tests.support import free_port, serve
from whatsapp.client import CloudApiClient
from whatsapp.sandbox import create_sandbox_app

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TEMPLATE = "session_closed_reminder"


def _template(*parameters: str, language: str = "en_US") -> dict[str, object]:
    return {
        "received_at": "2024-05-01T11:59:00+00:00",
        "phone_number_id": "1001",
        "to": "+15551234567",
        "user_id": None,
        "answered_status": 200,
        "kind": "template",
        "body": None,
        "template": {"name": TEMPLATE, "language": language, "parameters": list(parameters)},
    }


def test_a_template_row_names_it_and_quotes_its_parameters() -> None:
    text = render.outbox([_template("John", "Acme, Inc.")], now=NOW)
    header, _, row = text.splitlines()
    assert header.split() == ["RECEIVED", "PHONE_NUMBER_ID", "TO", "STATUS", "MESSAGE"]
    # Quoted, so a comma inside a parameter does not read as two parameters.
    assert row.endswith(f'template {TEMPLATE} (en_US): "John", "Acme, Inc."')
    assert "+15551234567" in row and "1 min ago" in row


def test_a_template_without_parameters() -> None:
    row = render.outbox([_template(language="pt_BR")], now=NOW).splitlines()[-1]
    assert row.endswith(f"template {TEMPLATE} (pt_BR)")


def test_quotes_in_a_parameter_stay_readable() -> None:
    assert render.outbox_message(_template('say "hi"', "Zoë")) == (
        f'template {TEMPLATE} (en_US): "say \\"hi\\"", "Zoë"'
    )


@pytest.mark.parametrize(
    "item",
    [
        {"body": "Hi!"},  # recorded before templates: no kind
        {"kind": "text", "body": "Hi!", "template": None},
    ],
)
def test_a_text_is_its_body(item: dict[str, object]) -> None:
    assert render.outbox_message(item) == "Hi!"


def test_a_template_without_its_details_shows_dashes() -> None:
    assert render.outbox_message({"kind": "template", "body": None, "template": None}) == "-"
    assert render.outbox_message({"kind": "template", "template": {}}) == "template - (-)"


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[str, CloudApiClient]]:
    async with serve(create_sandbox_app()) as url, httpx.AsyncClient() as http:
        yield url, CloudApiClient(http, base_url=url, api_version="v26.0")


async def test_the_command_lists_texts_and_templates(
    sandbox: tuple[str, CloudApiClient],
) -> None:
    url, client = sandbox
    common = {"phone_number_id": "777000", "access_token": "EAAG-secret", "to": "15551234567"}
    await client.send_text(body="Hi John! Still interested?", **common)
    await client.send_template(
        name=TEMPLATE, language="en_US", body_parameters=["John", "Acme Inc."], **common
    )
    cli = Cli(api_url=f"http://127.0.0.1:{free_port()}", account="demo")  # not asked
    result = await cli.run("outbox", "--sandbox-url", url)
    assert result.exit_code == 0, result.output
    _, _, text_row, template_row = result.stdout.splitlines()
    assert text_row.endswith("Hi John! Still interested?")
    assert template_row.endswith(f'template {TEMPLATE} (en_US): "John", "Acme Inc."')
    assert "777000" in template_row and "+15551234567" in template_row
