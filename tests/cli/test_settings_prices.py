"""``wa-sessions settings --price/--currency/--no-prices``: the message prices of the cost
estimate (docs/analytics.md#cost), changed one price at a time on top of the saved list."""

from __future__ import annotations

from typing import Any

import pytest

from cli import prices
from tests.cli.conftest import Cli
from tests.cli.test_commands import _create_account
from tests.cli.test_settings_reach import _saved, _without


def _price(amount: str, currency: str = "USD") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


async def test_prices_are_set_shown_and_changed_one_at_a_time(cli: Cli) -> None:
    await _create_account(cli)
    assert "prices:       off" in (await cli.ok("settings")).splitlines()

    out = await cli.ok(
        "settings",
        "--price",
        "default=0.0040",
        "--price",
        "91=0.0014",
        "--price",
        "44=0.0300",
        "--price",
        "template=0.0100",
    )
    assert "Settings saved successfully" in out
    # USD when no currency is given and none is saved; the amounts exactly as written.
    first = await _saved(cli)
    assert first["message_prices"] == {
        "default": _price("0.0040"),
        "by_country_code": {"44": _price("0.0300"), "91": _price("0.0014")},
        "template": _price("0.0100"),
    }
    shown = (await cli.ok("settings")).splitlines()
    assert shown[-5:] == [
        "prices:       USD",
        "  default:    0.0040",
        "  template:   0.0100",
        "  +44:        0.0300",
        "  +91:        0.0014",
    ]
    # The price lines line up with the rest of the settings.
    assert shown[1] == "expiry_hours: 23"

    # A code's price replaces that one; a new code is added; everything else is kept.
    await cli.ok("settings", "--price", "44=0.03", "--price", "1=0.0250")
    second = await _saved(cli)
    assert second["message_prices"] == {
        "default": _price("0.0040"),
        "by_country_code": {"1": _price("0.0250"), "44": _price("0.03"), "91": _price("0.0014")},
        "template": _price("0.0100"),
    }
    assert _without(second, "message_prices") == _without(first, "message_prices")

    # Another option alone leaves the prices as they are.
    await cli.ok("settings", "--hours", "5")
    assert (await _saved(cli))["message_prices"] == second["message_prices"]

    # An empty amount removes a code's price, or the template's; --currency is every price's.
    await cli.ok("settings", "--price", "1=", "--price", "template=", "--currency", "eur")
    assert (await _saved(cli))["message_prices"] == {
        "default": _price("0.0040", "EUR"),
        "by_country_code": {"44": _price("0.03", "EUR"), "91": _price("0.0014", "EUR")},
        "template": None,
    }
    await cli.ok("settings", "--price", "default=0.005")
    assert (await _saved(cli))["message_prices"]["default"] == _price("0.005", "EUR")


async def test_no_prices_sets_none(cli: Cli) -> None:
    await _create_account(cli)
    await cli.ok("settings", "--price", "default=0.0040", "--price", "44=0.0300")
    before = await _saved(cli)
    out = await cli.ok("settings", "--no-prices")
    assert "prices:       off" in out.splitlines()
    after = await _saved(cli)
    assert after["message_prices"] is None
    assert _without(after, "message_prices") == _without(before, "message_prices")

    # Without saved prices, a list starts with its default.
    result = await cli.run("settings", "--price", "44=0.0300")
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        "Error: no message prices are saved: give the default price too (--price default=0.0040)"
    ]
    assert (await _saved(cli))["message_prices"] is None


async def test_prices_the_api_refuses_are_shown_by_field(cli: Cli) -> None:
    await _create_account(cli)
    await cli.ok("settings", "--price", "default=0.0040")
    before = await _saved(cli)
    for args, field, words in [
        (["--price", "44=0.1234567"], "message_prices.by_country_code.44.amount:", "6 decimal"),
        (["--price", "default=-1"], "message_prices.default.amount:", "negative"),
        (["--price", "template=1e-3"], "message_prices.template.amount:", "not a decimal"),
        (["--price", "999=0.01"], "message_prices.by_country_code.999.[key]:", "calling code"),
        (["--currency", "DOLLAR"], "message_prices.default.currency:", "3 capital letters"),
    ]:
        result = await cli.run("settings", *args)
        assert result.exit_code == 1, (args, result.output)
        assert "Settings not saved" in result.stderr
        assert field in result.stderr and words in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output
    assert await _saved(cli) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--price", "0.0040"], "is not KEY=AMOUNT"),
        (["--price", "=0.0040"], "is not KEY=AMOUNT"),
        (["--price", "+44=0.0300"], "'+44' is not default, template or a country calling code"),
        (["--price", "uk=0.0300"], "'uk' is not default, template or a country calling code"),
        (["--price", "default="], "--price default= needs an amount"),
        (["--price", "44=0.03", "--price", "44=0.04"], "--price 44 is given twice"),
        (["--currency", " "], "--currency needs a currency code"),
        (["--no-prices", "--price", "default=0.0040"], "not both"),
        (["--no-prices", "--currency", "USD"], "not both"),
    ],
)
async def test_malformed_prices_are_one_line_and_exit_1(
    cli: Cli, args: list[str], words: str
) -> None:
    # No account exists: these fail on the options alone, before any request.
    result = await cli.run("settings", *args)
    assert result.exit_code == 1, (args, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert words in lines[0], lines
    assert result.stdout == ""


def test_merge_keeps_the_saved_amounts_as_written() -> None:
    saved: dict[str, Any] = {
        "default": _price("0.0040", "EUR"),
        "by_country_code": {"91": _price("0.0014", "EUR"), "44": _price("0.0300", "EUR")},
        "template": None,
    }
    edits = prices.parse(["971=0.0500", "template=0.1"], None)
    assert prices.merged(saved, edits) == {
        "default": _price("0.0040", "EUR"),
        "by_country_code": {
            "44": _price("0.0300", "EUR"),
            "91": _price("0.0014", "EUR"),
            "971": _price("0.0500", "EUR"),
        },
        "template": _price("0.1", "EUR"),
    }
    assert not prices.parse([], None).given
    assert prices.pairs(None) == [("prices", "off")]
