"""The sessions view marks a customer who opted out, in a real headless chromium against the dev
server: one customer writes STOP, another hello; only the first carries the badge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

from cli.webhook import build_text_webhook, signed_body, simulated_message_id
from tests.pages.browser import sign_in
from tests.pages.conftest import APP_SECRET, Site
from tests.support import eventually

pytestmark = [pytest.mark.browser, pytest.mark.devserver]

STOPPED = "16505550201"
CHATTING = "16505550202"


async def _writes(site: Site, wa_id: str, text: str) -> None:
    payload = build_text_webhook(
        phone_number_id=site.phone_number_id,
        wa_id=wa_id,
        text=text,
        sent_at=datetime.now(UTC) - timedelta(minutes=5),
        message_id=simulated_message_id(),
    )
    body, headers = signed_body(payload, app_secret=APP_SECRET)
    response = await site.api.post("/webhooks/whatsapp", content=body, headers=headers)
    assert response.status_code == 200, response.text


async def test_an_opted_out_customer_is_marked(dev_site: Site, page: Page) -> None:
    site = dev_site
    await _writes(site, STOPPED, " Stop ")
    await _writes(site, CHATTING, "hello")

    async def sessions() -> dict[str, dict[str, Any]]:
        answer = await site.api.get(f"/v1/accounts/{site.account_id}/sessions")
        return {item["wa_id"]: item for item in answer.json()["items"]}

    listed = await eventually(sessions, lambda by_id: set(by_id) == {STOPPED, CHATTING})
    assert (listed[STOPPED]["opted_out"], listed[CHATTING]["opted_out"]) == (True, False)

    await sign_in(page, site.page_url("/sessions"))
    rows = page.locator("#sessions-table tbody tr")
    await expect(rows).to_have_count(2)
    stopped = rows.filter(has_text=f"+{STOPPED}").locator('[data-label="Customer"]')
    await expect(stopped.locator(".badge")).to_have_text("opted out")
    chatting = rows.filter(has_text=f"+{CHATTING}").locator('[data-label="Customer"]')
    await expect(chatting.locator(".badge")).to_have_count(0)
