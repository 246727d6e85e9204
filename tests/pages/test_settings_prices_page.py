"""The settings page's message prices (the analytics' cost estimate) in a real headless
chromium: set through the form, saved, reloaded; refused next to their fields; switched off."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.pages.browser import screenshot, sign_in
from tests.pages.conftest import Site

pytestmark = pytest.mark.browser

SAVED = "Settings saved successfully"


async def _saved(site: Site) -> dict[str, Any]:
    response = await site.api.get(f"/v1/accounts/{site.account_id}/session-settings")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def _save(page: Page) -> None:
    await page.get_by_role("button", name="Save Changes").click()
    await expect(page.locator("#save-status")).to_have_text(SAVED)


def _usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


async def test_prices_are_set_saved_and_loaded(site: Site, page: Page) -> None:
    await sign_in(page, site.page_url("/"))
    switch = page.get_by_role("switch", name="Estimate the cost")
    details = page.locator("#prices-details")
    currency = page.get_by_label("Currency")
    default = page.get_by_label("Default price per delivered message")
    template = page.get_by_label("Template price")
    # None by default: no estimate, and nothing to fill in.
    await expect(switch).not_to_be_checked()
    await expect(details).to_be_hidden()
    link = page.locator("#prices-hint").get_by_role("link", name="Analytics")
    await expect(link).to_have_attribute("href", f"/analytics?account={site.account_id}")

    await switch.check()
    await expect(details).to_be_visible()
    await expect(currency).to_have_value("USD")
    await expect(page.locator("#country-prices li")).to_have_count(0)
    # Amounts are text, kept as written: the trailing zeros stay, spaces around go.
    await default.fill(" 0.0040 ")
    await template.fill("0.0100")
    add = page.get_by_role("button", name="Add a country")
    await add.click()
    first_code = page.get_by_label("Country 1 calling code")
    await expect(first_code).to_be_focused()
    await first_code.fill("91")
    await page.get_by_label("Country 1 price").fill("0.0014")
    await add.click()
    await page.get_by_label("Country 2 calling code").fill("44")
    await page.get_by_label("Country 2 price").fill("0.03")
    await add.click()
    await page.get_by_label("Country 3 calling code").fill("1")
    await page.get_by_label("Country 3 price").fill("0.0250")
    await page.get_by_role("button", name="Remove country 3").click()
    await expect(page.locator("#country-prices li")).to_have_count(2)
    # The focus goes back to the row before the removed one.
    await expect(page.get_by_label("Country 2 calling code")).to_be_focused()
    # A row left blank is no price.
    await add.click()
    await expect(page.locator(".unit")).to_have_text(["USD"] * 5)

    await _save(page)
    saved = await _saved(site)
    assert saved["message_prices"] == {
        "default": _usd("0.0040"),
        "by_country_code": {"91": _usd("0.0014"), "44": _usd("0.03")},
        "template": _usd("0.0100"),
    }
    await screenshot(page, "pages-settings-prices", phone=True)

    await page.reload()
    await expect(page.locator("#content")).to_be_visible()
    await expect(page.locator("form[aria-busy='true']")).to_have_count(0)
    await expect(switch).to_be_checked()
    await expect(currency).to_have_value("USD")
    await expect(default).to_have_value("0.0040")
    await expect(template).to_have_value("0.0100")
    # The countries in the order of their codes.
    for number, (code, amount) in enumerate([("44", "0.03"), ("91", "0.0014")], 1):
        await expect(page.get_by_label(f"Country {number} calling code")).to_have_value(code)
        await expect(page.get_by_label(f"Country {number} price")).to_have_value(amount)
    await expect(page.locator("#country-prices li")).to_have_count(2)

    # Another currency is every price's; no template price: templates cost what reminders do.
    await currency.fill("eur")
    await expect(page.locator(".unit")).to_have_text(["EUR"] * 4)
    await template.fill("")
    await page.get_by_label("Country 1 price").fill("0.0300")
    await _save(page)
    eur = {"currency": "EUR"}
    assert (await _saved(site))["message_prices"] == {
        "default": {"amount": "0.0040"} | eur,
        "by_country_code": {"44": {"amount": "0.0300"} | eur, "91": {"amount": "0.0014"} | eur},
        "template": None,
    }
    await expect(currency).to_have_value("EUR")


async def test_refused_prices_are_shown_next_to_their_fields(site: Site, page: Page) -> None:
    await sign_in(page, site.page_url("/"))
    await page.get_by_role("switch", name="Estimate the cost").check()
    currency = page.get_by_label("Currency")
    default = page.get_by_label("Default price per delivered message")
    await default.fill("0.0040")
    add = page.get_by_role("button", name="Add a country")
    await add.click()
    await page.get_by_label("Country 1 calling code").fill("44")
    amount = page.get_by_label("Country 1 price")
    await amount.fill("0.1234567")
    await add.click()
    await page.get_by_label("Country 2 calling code").fill("91")
    await page.get_by_label("Country 2 price").fill("0.0014")

    await page.get_by_role("button", name="Save Changes").click()
    error = page.locator("#price_amount_0-error")
    await expect(error).to_have_text("at most 6 decimal places")
    await expect(amount).to_have_attribute("aria-invalid", "true")
    await expect(amount).to_have_attribute("aria-describedby", "price_amount_0-error")
    await expect(amount).to_be_focused()
    await expect(page.locator("#price_amount_1-error")).to_be_hidden()
    await expect(page.locator("#form-error")).to_be_hidden()
    await expect(page.locator("#save-status")).to_have_text("")
    await screenshot(page, "pages-settings-prices-error")
    assert (await _saved(site))["version"] == 0  # nothing saved

    # Several at once, each where it belongs; the currency of every price is one error.
    await currency.fill("US")
    await default.fill("-1")
    await page.get_by_label("Country 2 calling code").fill("999")
    await page.get_by_role("button", name="Save Changes").click()
    await expect(page.locator("#price_currency-error")).to_have_text(
        "not a currency code of 3 capital letters, such as USD or EUR"
    )
    await expect(currency).to_be_focused()  # the first wrong field in reading order
    await expect(page.locator("#price_default-error")).to_have_text("a price must not be negative")
    await expect(error).to_have_text("at most 6 decimal places")
    await expect(page.locator("#price_code_1-error")).to_contain_text("not a country calling code")
    await expect(page.get_by_label("Country 2 calling code")).to_have_attribute(
        "aria-invalid", "true"
    )
    # An edit clears its own field's error.
    await amount.fill("0.123456")
    await expect(error).to_be_hidden()
    await expect(amount).not_to_have_attribute("aria-invalid", "true")

    # One code twice cannot be sent (one price per code): said at the second, nothing saved.
    await currency.fill("USD")
    await default.fill("0.0040")
    await page.get_by_label("Country 2 calling code").fill("44")
    await page.get_by_role("button", name="Save Changes").click()
    await expect(page.locator("#price_code_1-error")).to_have_text(
        "+44 has a price above already: keep one of the two."
    )
    await expect(page.get_by_label("Country 2 calling code")).to_be_focused()
    assert (await _saved(site))["version"] == 0

    await page.get_by_role("button", name="Remove country 2").click()
    await _save(page)
    await expect(page.locator("#settings-form .error:not([hidden])")).to_have_count(0)
    assert (await _saved(site))["message_prices"] == {
        "default": _usd("0.0040"),
        "by_country_code": {"44": _usd("0.123456")},
        "template": None,
    }


async def test_turning_the_estimate_off_saves_no_prices(site: Site, page: Page) -> None:
    path = f"/v1/accounts/{site.account_id}/session-settings"
    prices = {
        "default": _usd("0.0040"),
        "by_country_code": {"44": _usd("0.0300")},
        "template": _usd("0.0500"),
    }
    current = await _saved(site)
    body = {key: value for key, value in current.items() if key not in ("updated_at", "version")}
    answer = await site.api.put(path, json=body | {"message_prices": prices})
    assert answer.status_code == 200, answer.text

    await sign_in(page, site.page_url("/"))
    switch = page.get_by_role("switch", name="Estimate the cost")
    await expect(switch).to_be_checked()
    await expect(page.get_by_label("Default price per delivered message")).to_have_value("0.0040")
    await expect(page.get_by_label("Template price")).to_have_value("0.0500")
    await expect(page.get_by_label("Country 1 calling code")).to_have_value("44")
    await expect(page.get_by_label("Country 1 price")).to_have_value("0.0300")

    # Saving the page unchanged keeps them exactly.
    await _save(page)
    assert (await _saved(site))["message_prices"] == prices

    await switch.uncheck()
    await expect(page.locator("#prices-details")).to_be_hidden()
    await _save(page)
    saved = await _saved(site)
    assert saved["message_prices"] is None
    # The other fields are untouched.
    assert {
        k: v for k, v in saved.items() if k not in ("message_prices", "updated_at", "version")
    } == {k: v for k, v in body.items() if k != "message_prices"}
    # The switch off keeps what the inputs held until the page is left.
    await switch.check()
    await expect(page.get_by_label("Default price per delivered message")).to_have_value("0.0040")
