"""The outbox shows template messages: the proxy passes the sandbox's template fields on, and the
page names the template, its language and its parameters (texts as before).

A real sandbox Graph API on loopback is the API's ``SANDBOX_URL``; messages are posted to it the
way the worker's client would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect
from temporalio.testing import WorkflowEnvironment

from api.pages.router import ASSETS
from tests.pages.browser import screenshot, sign_in
from tests.pages.conftest import Site, make_settings, served_site
from tests.support import serve
from whatsapp.client import CloudApiClient
from whatsapp.sandbox import create_sandbox_app

CUSTOMER = "16505550199"
TEMPLATE = "session_closed_reminder"


@dataclass(frozen=True)
class Outbox:
    site: Site
    sandbox: httpx.AsyncClient  # control client of the sandbox
    client: CloudApiClient  # sends to the sandbox as the worker would

    async def text(self, body: str) -> None:
        await self.client.send_text(
            phone_number_id=self.site.phone_number_id,
            access_token="sandbox-token",
            to=CUSTOMER,
            body=body,
        )

    async def template(self, *parameters: str, language: str = "en_US") -> None:
        await self.client.send_template(
            phone_number_id=self.site.phone_number_id,
            access_token="sandbox-token",
            to=CUSTOMER,
            name=TEMPLATE,
            language=language,
            body_parameters=list(parameters),
            callback_data="reminder-42",
        )


@pytest.fixture
async def outbox(tmp_path: Path, ts_env: WorkflowEnvironment) -> AsyncIterator[Outbox]:
    async with (
        serve(create_sandbox_app()) as sandbox_url,
        httpx.AsyncClient(base_url=sandbox_url) as sandbox,
    ):
        settings = make_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}", ts_env, sandbox_url=sandbox_url
        )
        client = CloudApiClient(sandbox, base_url=sandbox_url, api_version="v26.0")
        async with served_site(settings) as site:
            yield Outbox(site=site, sandbox=sandbox, client=client)


async def listed(outbox: Outbox) -> list[dict[str, Any]]:
    response = await outbox.site.api.get(
        "/v1/sandbox/messages", params={"phone_number_id": outbox.site.phone_number_id}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_the_proxy_lists_templates_with_name_language_and_parameters(
    outbox: Outbox,
) -> None:
    await outbox.text("Hi John! Still interested?")
    await outbox.template("John", "Acme Inc.")
    template, text = await listed(outbox)  # newest first
    assert template["kind"] == "template" and template["body"] is None
    assert template["template"] == {
        "name": TEMPLATE,
        "language": "en_US",
        "parameters": ["John", "Acme Inc."],
    }
    assert (template["to"], template["callback_data"]) == (f"+{CUSTOMER}", "reminder-42")
    assert (text["kind"], text["body"], text["template"]) == (
        "text",
        "Hi John! Still interested?",
        None,
    )


async def test_the_outbox_page_says_what_a_template_shows(outbox: Outbox) -> None:
    async with httpx.AsyncClient(base_url=outbox.site.url) as anonymous:
        page = await anonymous.get("/outbox")
    assert page.status_code == 200
    assert "template message shows its name, language and parameters" in page.text
    # What the script does with one is the browser test's (below) to see.
    assert 'message.kind === "template"' in ASSETS["outbox.js"].content.decode()


@pytest.mark.browser
async def test_the_page_shows_a_template_and_a_text(outbox: Outbox, page: Page) -> None:
    await outbox.text("Hi John! Still interested?")
    await outbox.template("John", "Acme, Inc.")
    await outbox.template(language="pt_BR")
    await sign_in(page, outbox.site.page_url("/outbox"))
    messages = page.locator("#outbox-list li")
    await expect(messages).to_have_count(3)
    await expect(page.locator("#outbox-status")).to_have_text("3 messages received by the sandbox.")

    with_parameters, without, text = messages.nth(1), messages.nth(0), messages.nth(2)
    await expect(with_parameters.locator(".badge")).to_have_text("template")
    bubble = with_parameters.locator(".bubble")
    await expect(bubble.locator(".template-name")).to_have_text(f"{TEMPLATE} (en_US)")
    await expect(bubble).to_contain_text("{{1}} John")
    await expect(bubble).to_contain_text("{{2}} Acme, Inc.")
    await expect(without.locator(".template-name")).to_have_text(f"{TEMPLATE} (pt_BR)")
    await expect(without.locator(".bubble")).to_contain_text("no parameters")
    await expect(text.locator(".bubble")).to_have_text("Hi John! Still interested?")
    await expect(text.locator(".badge")).to_have_count(0)
    await screenshot(page, "pages-outbox-templates")
