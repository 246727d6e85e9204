"""The analytics page in a real headless chromium, against reminder records seeded with known
numbers: the tiles, the daily chart's bars and its table, the funnel, the range picker (inputs,
quick buttons, the API's 422, the address bar), and phone width.

The records are written straight into the database (the page only reads them), on days counted
back from today (UTC): ten days ago (outside the last 7 days), three days ago and yesterday.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from core.vocabulary import ReminderOutcome, SendKind
from store.db import create_engine, create_sessionmaker
from store.models import ReminderRow
from tests.pages.browser import sign_in
from tests.pages.conftest import Site

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PRICES = {
    "default": {"amount": "0.0040", "currency": "USD"},
    "by_country_code": {"44": {"amount": "0.0300", "currency": "USD"}},
}
SENT_BARS = "svg.daily-chart rect.bar[data-series='reminders_sent']"
REPLIED_BARS = "svg.daily-chart rect.bar[data-series='replied']"


@dataclass(frozen=True)
class Seed:
    """One audit record: decided at noon ``days_ago`` days back."""

    days_ago: int
    wa_id: str
    outcome: ReminderOutcome = ReminderOutcome.SENT
    delivery: str | None = None
    reply_seconds: int | None = None
    kind: SendKind = SendKind.REMINDER


SEEDS = [
    Seed(10, "447700900101", delivery="read", reply_seconds=600),
    Seed(10, "919800000102", delivery="delivered"),
    Seed(10, "4915100000103"),  # its status webhooks never came
    Seed(10, "5511900000104", outcome=ReminderOutcome.FAILED),
    Seed(3, "447700900105", delivery="read", reply_seconds=4320),
    Seed(3, "5511900000106", delivery="read", reply_seconds=5000),
    Seed(3, "15550100107", delivery="read"),
    Seed(3, "919800000108", delivery="delivered"),
    Seed(3, "15550100109", outcome=ReminderOutcome.SKIPPED_OPTED_OUT),
    Seed(3, "447700900110", kind=SendKind.TEMPLATE, delivery="sent"),  # not delivered: no cost
    Seed(1, "4915100000111", delivery="read"),
    Seed(1, "15550100112", delivery="delivered"),
]
# Reminders sent and replied per day, as the seeds say.
PER_DAY = {10: (3, 1), 3: (4, 2), 1: (2, 0)}


def artifacts_dir() -> Path:
    """Where screenshots go: ``TEST_ARTIFACTS_DIR``, else ``<repo>/test-artifacts``."""
    configured = os.environ.get("TEST_ARTIFACTS_DIR")
    return Path(configured) if configured else ROOT / "test-artifacts"


async def save_screenshot(page: Page, name: str) -> Path:
    directory = artifacts_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    return path


def today() -> date:
    return datetime.now(UTC).date()


def day(days_ago: int) -> str:
    return (today() - timedelta(days=days_ago)).isoformat()


async def seed(site: Site, seeds: list[Seed]) -> None:
    """The records, through the ORM, as the worker would have left them."""
    engine = create_engine(site.settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for n, item in enumerate(seeds):
                decided = datetime.combine(today() - timedelta(days=item.days_ago), time(12), UTC)
                decided += timedelta(minutes=n)
                sent = item.outcome is ReminderOutcome.SENT
                session.add(
                    ReminderRow(
                        reminder_id=str(uuid.uuid4()),
                        account_id=site.account_id,
                        conversation_key=uuid.uuid4().hex[:20],
                        wa_id=item.wa_id,
                        last_customer_message_at=decided - timedelta(hours=1),
                        outcome=item.outcome.value,
                        idempotency_key=f"seed:{uuid.uuid4()}" if sent else None,
                        error_code=131026 if item.outcome is ReminderOutcome.FAILED else None,
                        message_id=f"wamid.seed{n}" if sent else None,
                        delivery_status=item.delivery,
                        delivery_updated_at=decided if item.delivery else None,
                        text="Hi! Still interested?" if sent else None,
                        attempts=1 if item.outcome is not ReminderOutcome.SKIPPED_OPTED_OUT else 0,
                        decided_at=decided,
                        created_at=decided,
                        kind=item.kind.value,
                        nominal_due_at=decided,
                        send_at=decided,
                        replied_at=(
                            None
                            if item.reply_seconds is None
                            else decided + timedelta(seconds=item.reply_seconds)
                        ),
                        reply_seconds=item.reply_seconds,
                    )
                )
    finally:
        await engine.dispose()


async def set_prices(site: Site, prices: dict[str, Any] | None) -> None:
    path = f"/v1/accounts/{site.account_id}/session-settings"
    current = (await site.api.get(path)).json()
    body = {
        key: value
        for key, value in current.items()
        if key not in ("updated_at", "version", "message_prices")
    }
    saved = await site.api.put(path, json=body | {"message_prices": prices})
    assert saved.status_code == 200, saved.text


async def analytics(site: Site, **params: str) -> dict[str, Any]:
    answer = await site.api.get(f"/v1/accounts/{site.account_id}/analytics", params=params)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


async def bar_values(page: Page, selector: str) -> dict[str, int]:
    pairs = await page.locator(selector).evaluate_all(
        "(bars) => bars.map((bar) => [bar.dataset.date, Number(bar.dataset.value)])"
    )
    return dict(pairs)


async def table_rows(page: Page, selector: str) -> list[list[str]]:
    rows: list[list[str]] = await page.locator(f"{selector} tbody tr").evaluate_all(
        "(rows) => rows.map((row) => [...row.cells].map((cell) => cell.textContent.trim()))"
    )
    return rows


def expected_days(first: int, last: int = 0) -> list[list[str]]:
    """The daily table from ``first`` days ago to ``last`` days ago, oldest first."""
    rows = []
    for days_ago in range(first, last - 1, -1):
        sent, replied = PER_DAY.get(days_ago, (0, 0))
        rate = "—" if not sent else f"{round(100 * replied / sent, 1):g}%"
        rows.append([day(days_ago), str(sent), str(replied), rate])
    return rows


@pytest.fixture
async def seeded(site: Site) -> Site:
    await set_prices(site, PRICES)
    await seed(site, SEEDS)
    return site


async def test_the_page_shows_the_seeded_numbers(seeded: Site, page: Page) -> None:
    site = seeded
    # The API's own answer, for the figures the page must show exactly as given.
    answer = await analytics(site)
    assert (answer["from"], answer["to"], len(answer["days"])) == (day(29), day(0), 30)
    assert answer["estimated_cost"] == {"amount": "0.0840", "currency": "USD"}
    assert Decimal(answer["cost_per_reply"]["amount"]) == Decimal("0.028")

    await sign_in(page, site.page_url("/analytics"))
    await expect(page.locator("#analytics-status")).to_have_text(f"{day(29)} to {day(0)} · 30 days")
    await expect(page.locator("#analytics")).to_have_attribute("aria-busy", "false")
    await expect(page.get_by_label("From")).to_have_value(day(29))
    await expect(page.get_by_label("To", exact=True)).to_have_value(day(0))

    # The tiles: windows saved of reminders sent, rate, median time, cost, templates.
    await expect(page.locator("#tile-replied")).to_have_text("3")
    await expect(page.locator("#tile-replied-sub")).to_have_text("of 9 reminders sent")
    await expect(page.locator("#tile-reply-rate")).to_have_text("33.3%")
    await expect(page.locator("#tile-median-reply")).to_have_text("1 h 12 min")  # 4320 s
    await expect(page.locator("#tile-cost")).to_have_text("0.0840 USD")
    await expect(page.locator("#tile-cost-per-reply")).to_have_text(
        f"{answer['cost_per_reply']['amount']} USD"
    )
    await expect(page.locator("#tile-templates")).to_have_text("1")
    await expect(page.locator("#cost-hint")).to_be_hidden()

    # The chart: one sent and one replied bar per day, their values those of the seeds.
    chart = page.locator("svg.daily-chart")
    await expect(chart).to_have_attribute("role", "img")
    await expect(chart).to_have_attribute("aria-label", re.compile(r"9 sent, 3 replied in all"))
    await expect(page.locator(SENT_BARS)).to_have_count(30)
    await expect(page.locator(REPLIED_BARS)).to_have_count(30)
    sent_bars = await bar_values(page, SENT_BARS)
    replied_bars = await bar_values(page, REPLIED_BARS)
    assert sent_bars == {day(n): PER_DAY.get(n, (0, 0))[0] for n in range(30)}
    assert replied_bars == {day(n): PER_DAY.get(n, (0, 0))[1] for n in range(30)}
    # Heights are to scale: three days ago (4 sent) stands twice as tall as yesterday (2).
    heights = {
        n: float(
            await page.locator(f"{SENT_BARS}[data-date='{day(n)}']").get_attribute("height") or 0
        )
        for n in (3, 1, 2)
    }
    assert heights[3] == pytest.approx(2 * heights[1]) and heights[2] == 0

    # The table alternative holds the same numbers, every day of the range.
    await page.get_by_text("The numbers per day, as a table").click()
    await expect(page.locator("#daily-table")).to_be_visible()
    assert await table_rows(page, "#daily-table") == expected_days(29)

    # The funnel: sent → delivered → read → replied, with shares of sent; failed beside it.
    stages = page.locator("#funnel li")
    values = await stages.evaluate_all(
        "(items) => items.map((li) => [li.dataset.stage, li.dataset.value,"
        " li.querySelector('.funnel-share').textContent])"
    )
    assert values == [
        ["sent", "9", "100%"],
        ["delivered", "8", "88.9%"],
        ["read", "5", "55.6%"],
        ["replied", "3", "33.3%"],
    ]
    await expect(page.locator("#funnel-failed")).to_have_attribute("data-value", "1")
    await expect(page.locator("#funnel-failed")).to_have_text("Failed 1 (refused or undelivered)")
    await page.get_by_text("The funnel as a table").click()
    assert await table_rows(page, "#funnel-table") == [
        ["Sent", "9", "100%"],
        ["Delivered", "8", "88.9%"],
        ["Read", "5", "55.6%"],
        ["Replied", "3", "33.3%"],
        ["Failed (refused or undelivered)", "1", "—"],
    ]
    shot = await save_screenshot(page, "analytics")
    assert shot.is_file()

    # A shorter range: fewer days drawn, other numbers, and the range in the address bar.
    await page.get_by_label("From").fill(day(6))
    await expect(page.locator("#analytics-status")).to_have_text(f"{day(6)} to {day(0)} · 7 days")
    await expect(page.locator(SENT_BARS)).to_have_count(7)
    await expect(page.locator("#tile-replied")).to_have_text("2")
    await expect(page.locator("#tile-replied-sub")).to_have_text("of 6 reminders sent")
    await expect(page.locator("#funnel li[data-stage='sent']")).to_have_attribute("data-value", "6")
    await expect(page.locator("#funnel-failed")).to_have_attribute("data-value", "0")
    assert await table_rows(page, "#daily-table") == expected_days(6)
    await expect(page.get_by_role("button", name="7 days")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert f"from={day(6)}" in page.url and f"to={day(0)}" in page.url
    assert f"account={site.account_id}" in page.url

    # The link reproduces the view (the token is still in this tab).
    await page.reload()
    await expect(page.locator("#analytics-status")).to_have_text(f"{day(6)} to {day(0)} · 7 days")
    await expect(page.locator(SENT_BARS)).to_have_count(7)
    await expect(page.get_by_label("From")).to_have_value(day(6))

    # The API's 422 is shown next to the inputs; the last good view stays.
    await page.get_by_label("From").fill(day(-3))
    error = page.locator("#range-error")
    await expect(error).to_have_text("from must not be after to")
    await expect(page.get_by_label("From")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator(SENT_BARS)).to_have_count(7)
    assert f"from={day(6)}" in page.url
    await page.get_by_label("From").fill(day(400))
    await expect(error).to_contain_text("at most 366 days")

    # A quick range fixes it.
    await page.get_by_role("button", name="90 days").click()
    await expect(error).to_be_hidden()
    await expect(page.locator(SENT_BARS)).to_have_count(90)
    await expect(page.get_by_label("From")).to_have_value(day(89))
    await expect(page.locator("#tile-replied-sub")).to_have_text("of 9 reminders sent")
    assert f"from={day(89)}" in page.url


async def test_phone_width_has_no_horizontal_overflow(seeded: Site, page: Page) -> None:
    await page.set_viewport_size({"width": 360, "height": 780})
    await sign_in(page, seeded.page_url("/analytics"))
    await expect(page.locator(SENT_BARS)).to_have_count(30)
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    box = await page.locator("svg.daily-chart").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    # The tiles wrap: two a row under the headline tile, none cut off.
    for tile in await page.locator(".tile").all():
        tile_box = await tile.bounding_box()
        assert tile_box is not None and tile_box["x"] + tile_box["width"] <= 360
    shot = await save_screenshot(page, "analytics-phone")
    assert shot.is_file()


async def test_without_prices_or_reminders_the_page_says_so(site: Site, page: Page) -> None:
    await sign_in(page, site.page_url("/analytics"))
    await expect(page.locator("#analytics-status")).to_have_text(
        f"{day(29)} to {day(0)} · 30 days · no reminders were sent in this range"
    )
    await expect(page.locator("#tile-replied")).to_have_text("0")
    await expect(page.locator("#tile-reply-rate")).to_have_text("—")
    await expect(page.locator("#tile-median-reply")).to_have_text("—")
    await expect(page.locator("#tile-cost")).to_have_text("—")
    await expect(page.locator("#tile-cost-sub")).to_have_text("no message prices set")
    await expect(page.locator("#cost-hint")).to_be_visible()
    await expect(page.locator("#cost-hint")).to_contain_text(
        "Set your message prices on the settings page"
    )
    await expect(page.locator("#cost-hint a")).to_have_attribute(
        "href", f"/?account={site.account_id}#prices-heading"
    )
    await expect(page.locator(SENT_BARS)).to_have_count(30)
    await expect(page.locator("#funnel li[data-stage='delivered'] .funnel-share")).to_have_text("—")


async def test_saving_the_settings_page_keeps_the_message_prices(site: Site, page: Page) -> None:
    # Its PUT replaces the whole document: what the page loaded must go back unchanged.
    await set_prices(site, PRICES)
    await sign_in(page, site.page_url("/"))
    await page.get_by_label("Session Expiry Hours").fill("5")
    await page.get_by_role("button", name="Save Changes").click()
    await expect(page.locator("#save-status")).to_have_text("Settings saved successfully")
    saved = (await site.api.get(f"/v1/accounts/{site.account_id}/session-settings")).json()
    assert saved["expiry_hours"] == 5
    assert saved["message_prices"] == PRICES | {"template": None}
