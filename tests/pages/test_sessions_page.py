"""The sessions view and the outbox in a real headless chromium, against the dev server + worker.

One scenario for the module: reminders on, 1 h of silence; customer A wrote 2 h ago (so the
worker reminds A at once, through the sandbox Graph API) and customer B wrote 10 minutes ago
(B's session waits, its reminder due in 50 minutes). Customer C, who hides their number behind
a username (Meta names them by BSUID only), wrote 2 h ago too and is reminded by BSUID. All
arrive as signed webhooks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

from cli.webhook import build_text_webhook, signed_body, simulated_message_id
from tests.pages.browser import screenshot, sign_in
from tests.pages.conftest import APP_SECRET, UI_URL, Site
from tests.support import eventually

pytestmark = [pytest.mark.browser, pytest.mark.devserver]

REMINDED = "16505550101"
WAITING = "16505550102"
HIDDEN = "US.50012345678901234567"  # the BSUID of a customer with a username and no number
USERNAME = "@ana.bell"
TEMPLATE = "Hi {contact_firstname}, your {company_name} order is waiting!"
REMINDER_TEXT = "Hi Jane, your Acme Inc. order is waiting!"
HIDDEN_TEXT = "Hi Ana, your Acme Inc. order is waiting!"


@dataclass(frozen=True)
class Scenario:
    site: Site
    sessions: dict[str, dict[str, Any]]  # by wa_id (else BSUID), as the API lists them


async def _webhook(
    site: Site,
    *,
    name: str,
    ago: timedelta,
    wa_id: str | None = None,
    user_id: str | None = None,
    username: str | None = None,
) -> None:
    payload = build_text_webhook(
        phone_number_id=site.phone_number_id,
        wa_id=wa_id,
        user_id=user_id,
        username=username,
        text="Is my order ready?",
        sent_at=datetime.now(UTC) - ago,
        message_id=simulated_message_id(),
        profile_name=name,
    )
    body, headers = signed_body(payload, app_secret=APP_SECRET)
    response = await site.api.post("/webhooks/whatsapp", content=body, headers=headers)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
async def scenario(dev_site: Site) -> Scenario:
    site = dev_site
    base = f"/v1/accounts/{site.account_id}"
    saved = await site.api.put(
        f"{base}/session-settings", json={"enabled": True, "expiry_hours": 1, "message": TEMPLATE}
    )
    assert saved.status_code == 200, saved.text
    await _webhook(site, wa_id=REMINDED, name="Jane Doe", ago=timedelta(hours=2))
    await _webhook(site, wa_id=WAITING, name="Bob Stone", ago=timedelta(minutes=10))
    await _webhook(site, user_id=HIDDEN, username=USERNAME, name="Ana Bell", ago=timedelta(hours=2))

    async def reminders() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await site.api.get(f"{base}/reminders")).json()["items"]
        return items

    await eventually(reminders, lambda items: [r["outcome"] for r in items] == ["sent"] * 2)

    async def sessions() -> dict[str, dict[str, Any]]:
        items = (await site.api.get(f"{base}/sessions")).json()["items"]
        return {item["wa_id"] or item["user_id"]: item for item in items}

    listed = await eventually(
        sessions,
        lambda by_id: (
            set(by_id) == {REMINDED, WAITING, HIDDEN}
            and by_id[REMINDED]["state"] == "reminded"
            and by_id[HIDDEN]["state"] == "reminded"
            and by_id[WAITING]["state"] == "waiting"
        ),
    )
    return Scenario(site=site, sessions=listed)


def _row(page: Page, wa_id: str) -> Any:
    return page.locator("#sessions-table tbody tr").filter(has_text=f"+{wa_id}")


async def test_sessions_view_lists_sessions_and_links_to_the_web_ui(
    scenario: Scenario, page: Page
) -> None:
    await sign_in(page, scenario.site.page_url("/sessions"))
    rows = page.locator("#sessions-table tbody tr")
    await expect(rows).to_have_count(3)

    waiting = _row(page, WAITING)
    await expect(waiting.locator('[data-label="State"]')).to_have_text("waiting")
    await expect(waiting.locator('[data-label="Last customer message"]')).to_have_text(
        re.compile(r"^1[01] min ago$")  # slack for a slow machine
    )
    await expect(waiting.locator('[data-label="Reminder due"]')).to_have_text(
        re.compile(r"^in (49|50) min$")
    )
    await expect(waiting.locator('[data-label="Window closes"]')).to_have_text("in 24 h")
    link = waiting.get_by_role(
        "link", name=f"Open the session of +{WAITING} in the Temporal Web UI"
    )
    expected_url = scenario.sessions[WAITING]["temporal_ui_url"]
    assert expected_url.startswith(f"{UI_URL}/namespaces/")
    await expect(link).to_have_attribute("href", expected_url)

    reminded = _row(page, REMINDED)
    await expect(reminded.locator('[data-label="State"]')).to_have_text("reminded")
    await expect(reminded.locator('[data-label="Last customer message"]')).to_have_text("2 h ago")
    await expect(reminded.locator('[data-label="Reminder"]')).to_have_text("sent")

    # A customer without number is shown by username, the BSUID a hover away.
    hidden = page.locator("#sessions-table tbody tr").filter(has_text=USERNAME)
    await expect(hidden.locator('[data-label="State"]')).to_have_text("reminded")
    await expect(hidden.locator('[data-label="Customer"] span')).to_have_attribute(
        "title", f"BSUID {HIDDEN}"
    )
    await expect(
        hidden.get_by_role("link", name=f"Open the session of {USERNAME} in the Temporal Web UI")
    ).to_have_attribute("href", scenario.sessions[HIDDEN]["temporal_ui_url"])

    # The audit trail: the decisions, with the text as rendered for each contact.
    await expect(page.locator("#reminders-table tbody tr")).to_have_count(2)
    hidden_audit = page.locator("#reminders-table tbody tr").filter(has_text=USERNAME)
    await expect(hidden_audit.locator('[data-label="Message"]')).to_have_text(HIDDEN_TEXT)
    audit = page.locator("#reminders-table tbody tr").filter(has_text=f"+{REMINDED}")
    await expect(audit).to_have_count(1)
    await expect(audit.locator('[data-label="Customer"]')).to_have_text(f"+{REMINDED}")
    await expect(audit.locator('[data-label="Outcome"]')).to_contain_text("sent")
    await expect(audit.locator('[data-label="Message"]')).to_have_text(REMINDER_TEXT)
    await expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    await screenshot(page, "pages-sessions", phone=True)

    # Filter by state; the filter stays in the address bar for a reload.
    await page.get_by_label("State").select_option("waiting")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text(f"+{WAITING}")
    assert page.url.endswith("&state=waiting")
    await page.reload()
    await expect(page.get_by_label("State")).to_have_value("waiting")
    await expect(rows).to_have_count(1)
    await page.get_by_label("State").select_option("expired")
    await expect(page.locator("#sessions-status")).to_have_text(
        "No sessions in state “expired” yet."
    )
    await expect(page.locator("#sessions-table")).to_be_hidden()


async def test_outbox_lists_what_the_sandbox_received(scenario: Scenario, page: Page) -> None:
    await sign_in(page, scenario.site.page_url("/outbox"))
    messages = page.locator("#outbox-list li")
    await expect(messages).to_have_count(2)
    by_number = messages.filter(has_text=f"To +{REMINDED}")
    await expect(by_number.locator(".bubble")).to_have_text(REMINDER_TEXT)
    # Sent to a BSUID (``recipient``): the outbox says so rather than "To null".
    by_bsuid = messages.filter(has_text=f"To {HIDDEN} (BSUID)")
    await expect(by_bsuid.locator(".bubble")).to_have_text(HIDDEN_TEXT)
    await expect(page.locator("#outbox-status")).to_have_text("2 messages received by the sandbox.")
    await screenshot(page, "pages-outbox", phone=True)
