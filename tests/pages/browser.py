"""Steps the browser tests share: signing in and saving screenshots for a person to look at."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.pages.conftest import API_TOKEN, ARTIFACTS, PHONE


async def sign_in(page: Page, url: str, *, token: str = API_TOKEN) -> None:
    """Open ``url`` and sign in through the form; the page content is shown afterwards."""
    await page.goto(url)
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#content")).to_be_visible()
    # A page that loads a document into a form marks it busy until then: an input changed
    # before would be overwritten by the load.
    await expect(page.locator("form[aria-busy='true']")).to_have_count(0)


async def screenshot(page: Page, name: str, *, phone: bool = False) -> None:
    """``tests/artifacts/<name>.png`` of the whole page (and ``<name>-phone.png`` at 390 px)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    if phone:
        size = page.viewport_size
        await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        await page.screenshot(path=ARTIFACTS / f"{name}-phone.png", full_page=True)
        if size is not None:
            await page.set_viewport_size(size)
