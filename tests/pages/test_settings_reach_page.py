"""The settings page's reaching fields in a real headless chromium: quiet hours, time zone,
keywords and the template fallback; saved, reloaded, and refused next to their fields."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.pages.browser import screenshot, sign_in
from tests.pages.conftest import PHONE, Site

pytestmark = pytest.mark.browser

REACH = ("quiet_hours", "timezone", "opt_out_keywords", "opt_in_keywords", "fallback_template")


async def _saved(site: Site) -> dict[str, Any]:
    response = await site.api.get(f"/v1/accounts/{site.account_id}/session-settings")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_quiet_hours_keywords_and_template_are_saved_and_kept(site: Site, page: Page) -> None:
    await sign_in(page, site.page_url("/"))
    quiet = page.get_by_role("switch", name="Quiet hours")
    start = page.get_by_label("Quiet hours start")
    end = page.get_by_label("Quiet hours end")
    zone = page.get_by_label("Time zone")
    opt_out = page.get_by_label("Opt-out keywords")
    opt_in = page.get_by_label("Opt-in keywords")
    template = page.get_by_role("switch", name="Send a template when the window closes")
    details = page.locator("#template-details")
    # The defaults: no quiet hours, UTC, STOP / START, no template (it costs money).
    await expect(quiet).not_to_be_checked()
    await expect(start).to_be_hidden()
    await expect(zone).to_have_value("UTC")
    await expect(opt_out).to_have_value("STOP")
    await expect(opt_in).to_have_value("START")
    await expect(template).not_to_be_checked()
    await expect(details).to_be_hidden()
    await expect(page.locator("#template-billing")).to_have_text(
        "Templates are billed by Meta, per message sent: this stays off until you turn it on."
    )
    # The picker offers the names the API accepts.
    assert await page.locator("#timezones option[value='Europe/Berlin']").count() == 1

    await quiet.check()
    await expect(start).to_have_value("22:00")  # a suggestion, until changed
    await start.fill("21:30")
    await end.fill("06:45")
    await zone.fill("Europe/Berlin")
    await opt_out.fill("STOP\n  Unsubscribe  \n\n")
    await opt_in.fill("START\nResume")

    await template.check()
    await expect(details).to_be_visible()
    await page.get_by_label("Template name").fill("session_follow_up")
    await page.get_by_label("Template language").fill("en_US")
    add = page.get_by_role("button", name="Add parameter")
    await add.click()
    first = page.get_by_label("Parameter {{1}}", exact=True)
    await expect(first).to_be_focused()
    await first.fill("Dear ")
    # A merge-field button writes into the parameter focused last, at its cursor.
    buttons = details.get_by_role("group", name="Insert a merge field into the parameter")
    await buttons.get_by_role("button", name="{contact_firstname}").click()
    await expect(first).to_have_value("Dear {contact_firstname}")
    await add.click()
    second = page.get_by_label("Parameter {{2}}", exact=True)
    await buttons.get_by_role("button", name="{company_name}").click()
    await expect(second).to_have_value("{company_name}")
    await add.click()
    await page.get_by_label("Parameter {{3}}", exact=True).fill("to be removed")
    # The live preview renders each parameter for the sample contact.
    preview = page.locator("#template-preview li")
    await expect(preview).to_have_text(["{{1}}Dear John", "{{2}}Acme Inc.", "{{3}}to be removed"])
    await page.get_by_role("button", name="Remove parameter {{3}}").click()
    await expect(page.get_by_label("Parameter {{3}}", exact=True)).to_have_count(0)
    await expect(preview).to_have_text(["{{1}}Dear John", "{{2}}Acme Inc."])

    await page.get_by_role("button", name="Save Changes").click()
    await expect(page.locator("#save-status")).to_have_text("Settings saved successfully")
    saved = await _saved(site)
    assert {key: saved[key] for key in REACH} == {
        "quiet_hours": {"start": "21:30", "end": "06:45"},
        "timezone": "Europe/Berlin",
        "opt_out_keywords": ["STOP", "Unsubscribe"],
        "opt_in_keywords": ["START", "Resume"],
        "fallback_template": {
            "name": "session_follow_up",
            "language": "en_US",
            "body_parameters": ["Dear {contact_firstname}", "{company_name}"],
        },
    }
    await screenshot(page, "pages-settings-reach", phone=True)

    await page.reload()
    await expect(page.locator("#content")).to_be_visible()
    await expect(quiet).to_be_checked()
    await expect(start).to_have_value("21:30")
    await expect(end).to_have_value("06:45")
    await expect(zone).to_have_value("Europe/Berlin")
    await expect(opt_out).to_have_value("STOP\nUnsubscribe")
    await expect(opt_in).to_have_value("START\nResume")
    await expect(template).to_be_checked()
    await expect(page.get_by_label("Template name")).to_have_value("session_follow_up")
    await expect(page.get_by_label("Template language")).to_have_value("en_US")
    await expect(page.locator("#template-parameters input")).to_have_count(2)
    await expect(page.get_by_label("Parameter {{1}}", exact=True)).to_have_value(
        "Dear {contact_firstname}"
    )
    await expect(page.get_by_label("Parameter {{2}}", exact=True)).to_have_value("{company_name}")
    await expect(preview).to_have_text(["{{1}}Dear John", "{{2}}Acme Inc."])

    # Switched off, they are saved as none.
    await quiet.uncheck()
    await template.uncheck()
    await expect(details).to_be_hidden()
    await page.get_by_role("button", name="Save Changes").click()
    await expect(page.locator("#save-status")).to_have_text("Settings saved successfully")
    saved = await _saved(site)
    assert (saved["quiet_hours"], saved["fallback_template"]) == (None, None)


async def test_errors_of_the_reaching_fields_sit_next_to_them(site: Site, page: Page) -> None:
    await sign_in(page, site.page_url("/"))
    await page.get_by_role("switch", name="Quiet hours").check()
    start = page.get_by_label("Quiet hours start")
    end = page.get_by_label("Quiet hours end")
    await start.fill("07:00")
    await end.fill("07:00")
    zone = page.get_by_label("Time zone")
    await zone.fill("Mars/Olympus")
    await page.get_by_label("Opt-in keywords").fill("START\nstop")
    await page.get_by_role("switch", name="Send a template when the window closes").check()
    await page.get_by_label("Template name").fill("Hello World!")
    await page.get_by_label("Template language").fill("en_US")
    await page.get_by_role("button", name="Add parameter").click()
    parameter = page.get_by_label("Parameter {{1}}", exact=True)
    await parameter.fill("Hi {contact_age}")
    # The live preview already says what is wrong with the parameter.
    await expect(page.locator("#template-preview-status")).to_contain_text(
        "unknown merge field {contact_age}"
    )

    await page.get_by_role("button", name="Save Changes").click()
    quiet_error = page.locator("#quiet_hours-error")
    await expect(quiet_error).to_have_text("start and end must differ (a period of no length)")
    await expect(start).to_have_attribute("aria-invalid", "true")
    await expect(end).to_have_attribute("aria-invalid", "true")
    await expect(start).to_have_attribute("aria-describedby", "quiet_start-error quiet_hours-error")
    await expect(page.locator("#timezone-error")).to_have_text(
        "not an IANA time zone name such as Europe/Berlin or America/Sao_Paulo"
    )
    await expect(zone).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#opt_in_keywords-error")).to_have_text(
        "'stop' is both an opt-out and an opt-in keyword (compared trimmed, ignoring case)"
    )
    await expect(page.locator("#template_name-error")).to_contain_text("lowercase letters")
    await expect(page.locator("#template_language-error")).to_be_hidden()
    await expect(page.locator("#template_param_0-error")).to_contain_text(
        "unknown merge field {contact_age}"
    )
    await expect(parameter).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#form-error")).to_be_hidden()
    await expect(page.locator("#save-status")).to_have_text("")
    # The first wrong field in reading order has the focus.
    await expect(start).to_be_focused()
    await screenshot(page, "pages-settings-reach-errors")
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await expect(quiet_error).to_be_visible()
    assert (await _saved(site))["version"] == 0  # nothing saved

    # A bad time alone: its own error, under its input; fixing it clears the quiet-hours errors.
    await start.fill("")
    await page.get_by_role("button", name="Save Changes").click()
    await expect(page.locator("#quiet_start-error")).to_have_text(
        "not a 24-hour time HH:MM, 00:00 to 23:59"
    )
    await expect(quiet_error).to_be_hidden()
    await start.fill("22:00")
    await expect(page.locator("#quiet_start-error")).to_be_hidden()
    await expect(start).not_to_have_attribute("aria-invalid", "true")

    await zone.fill("America/Sao_Paulo")
    await page.get_by_label("Opt-in keywords").fill("START")
    await page.get_by_label("Template name").fill("hello_world")
    await parameter.fill("Hi {contact_firstname}")
    await page.get_by_role("button", name="Save Changes").click()
    await expect(page.locator("#save-status")).to_have_text("Settings saved successfully")
    await expect(page.locator("#settings-form .error:not([hidden])")).to_have_count(0)
    saved = await _saved(site)
    assert saved["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert saved["fallback_template"]["body_parameters"] == ["Hi {contact_firstname}"]
