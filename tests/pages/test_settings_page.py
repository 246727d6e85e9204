"""The settings page in a real headless chromium: sign in, edit, preview, save, reload, errors."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.pages.browser import screenshot, sign_in
from tests.pages.conftest import API_TOKEN, Site

pytestmark = pytest.mark.browser

DEFAULT_MESSAGE = (
    "Hi {contact_firstname}! Following up on our conversation. Still interested? Let me know! 😊"
)


async def test_sign_in_refuses_a_wrong_token(site: Site, page: Page) -> None:
    await page.goto(site.page_url("/"))
    await expect(page.locator("#content")).to_be_hidden()
    await page.get_by_label("API token").fill("not-the-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#api-token-error")).to_have_text(
        "Your token was not accepted. Sign in again."
    )
    await expect(page.get_by_label("API token")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#content")).to_be_hidden()
    # The token never travels in a URL, and a refused one is not kept.
    assert "token" not in page.url
    assert await page.evaluate("() => sessionStorage.length") == 0
    await screenshot(page, "pages-signin")


async def test_edit_preview_save_and_reload(site: Site, page: Page) -> None:
    await sign_in(page, site.page_url("/"))
    hours = page.get_by_label("Session Expiry Hours")
    message = page.get_by_label("Session Expiry Message")
    enabled = page.get_by_role("switch", name="Enable Session Reset Message")
    # The defaults, as the API serves them.
    await expect(hours).to_have_value("23")
    await expect(message).to_have_value(DEFAULT_MESSAGE)
    await expect(enabled).not_to_be_checked()
    await expect(page.locator("#preview")).to_have_text(
        "Hi John! Following up on our conversation. Still interested? Let me know! 😊"
    )

    await enabled.check()
    await hours.fill("6")
    await message.fill("Hello ! Your order is ready.")
    # A merge field goes in at the cursor, not at the end.
    await message.evaluate("(box) => box.setSelectionRange(6, 6)")
    await page.get_by_role("button", name="{contact_firstname}").click()
    await expect(message).to_have_value("Hello {contact_firstname}! Your order is ready.")
    # The cursor stays after the inserted field; the keyboard alone reaches the buttons.
    await page.keyboard.press("End")
    await page.keyboard.type(" — ")
    await page.get_by_role("button", name="{company_name}").focus()
    await page.keyboard.press("Enter")
    expected = "Hello {contact_firstname}! Your order is ready. — {company_name}"
    await expect(message).to_have_value(expected)
    await expect(page.locator("#message-counter")).to_have_text(
        f"{len(expected)} / 1000 characters"
    )
    await expect(page.locator("#preview")).to_have_text(
        "Hello John! Your order is ready. — Acme Inc."
    )
    await expect(page.locator("#preview-notes li")).to_have_count(0)
    # {contact_phone}: the preview says it is empty for customers without a number.
    await message.fill(expected + " {contact_phone}")
    await expect(page.locator("#preview")).to_contain_text("+1234567890")
    await expect(page.locator("#preview-notes")).to_contain_text(
        "{contact_phone} is empty for customers who hide their number"
    )
    await message.fill(expected)
    await expect(page.locator("#preview-notes li")).to_have_count(0)

    await page.get_by_role("button", name="Save Changes").click()
    await expect(page.get_by_role("status").filter(has_text="saved")).to_have_text(
        "Settings saved successfully"
    )
    saved = (await site.api.get(f"/v1/accounts/{site.account_id}/session-settings")).json()
    assert (saved["enabled"], saved["expiry_hours"], saved["message"]) == (True, 6, expected)
    await screenshot(page, "pages-settings", phone=True)

    # The token survives a reload (sessionStorage), and so do the saved values.
    await page.reload()
    await expect(page.locator("#content")).to_be_visible()
    await expect(hours).to_have_value("6")
    await expect(message).to_have_value(expected)
    await expect(enabled).to_be_checked()
    await expect(page.locator("#save-status")).to_have_text("")


async def test_validation_errors_sit_next_to_their_fields(site: Site, page: Page) -> None:
    await sign_in(page, site.page_url("/"))
    hours = page.get_by_label("Session Expiry Hours")
    message = page.get_by_label("Session Expiry Message")
    await expect(hours).to_have_value("23")

    await hours.fill("24")
    await page.get_by_role("button", name="Save Changes").click()
    error = page.locator("#expiry_hours-error")
    await expect(error).to_have_text("Input should be less than or equal to 23")
    await expect(hours).to_have_attribute("aria-invalid", "true")
    await expect(hours).to_have_attribute(
        "aria-describedby", "expiry_hours-hint expiry_hours-error"
    )
    await expect(hours).to_be_focused()
    await expect(page.locator("#save-status")).to_have_text("")
    await expect(page.locator("#message-error")).to_be_hidden()
    await screenshot(page, "pages-settings-error")
    saved = (await site.api.get(f"/v1/accounts/{site.account_id}/session-settings")).json()
    assert saved["expiry_hours"] == 23 and saved["updated_at"] is None  # nothing saved

    # Two fields wrong at once: each error goes to its own field.
    await message.fill("Hi {nickname}, still there?")
    await expect(page.locator("#preview")).to_contain_text("{nickname}")
    await expect(page.locator("#preview")).to_have_class("bubble is-error")
    await page.get_by_role("button", name="Save Changes").click()
    await expect(page.locator("#message-error")).to_contain_text("{nickname}")
    await expect(error).to_be_visible()
    await expect(message).to_have_attribute("aria-invalid", "true")

    # Fixing the fields clears their errors and saves.
    await hours.fill("23")
    await expect(error).to_be_hidden()
    await message.fill("Hi {contact_firstname}, still there?")
    await page.get_by_role("button", name="Save Changes").click()
    await expect(page.locator("#save-status")).to_have_text("Settings saved successfully")
    await expect(page.locator("#message-error")).to_be_hidden()


async def test_the_outbox_says_when_not_in_sandbox_mode(site: Site, page: Page) -> None:
    await sign_in(page, site.page_url("/outbox"))
    await expect(page.locator("#outbox-status")).to_contain_text("not in sandbox mode")
    await page.get_by_role("link", name="Settings").click()
    # Signed in once per tab: the other pages need no new sign-in.
    await expect(page.get_by_label("Session Expiry Hours")).to_have_value("23")


async def test_an_unknown_account_is_explained(site: Site, page: Page) -> None:
    await page.goto(f"{site.url}/?account=nobody-here")
    await page.get_by_label("API token").fill(API_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text('Account "nobody-here" does not exist')
    await expect(page.locator("#content")).to_be_hidden()
