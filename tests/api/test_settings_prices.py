"""``message_prices`` in ``/v1/accounts/{id}/session-settings`` (docs/analytics.md#cost): its
rules, each a 422 naming the field and the rule, and its round trip through GET, PUT and the
settings history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from store.repository import Store
from tests.api.conftest import Seeded
from tests.api.test_settings import GOOD, only_error, path
from tests.store_reads import settings_history

USD = "USD"
PRICES: dict[str, Any] = {
    "default": {"amount": "0.0040", "currency": USD},
    "by_country_code": {
        "1": {"amount": "0.0250", "currency": USD},
        "44": {"amount": "0.0300", "currency": USD},
        "91": {"amount": "0.001", "currency": USD},
        "998": {"amount": "0", "currency": USD},
    },
    "template": {"amount": "999.999999", "currency": USD},
}


def body(prices: Any) -> dict[str, Any]:
    return {"enabled": True, "expiry_hours": 5, "message": GOOD, "message_prices": prices}


def price(amount: Any, currency: str = USD) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


async def test_prices_round_trip_as_written(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    response = await client.put(path(seeded), json=body(PRICES))
    assert response.status_code == 200, response.text
    # Amounts come back exactly as written: "0.001" stays "0.001", "0" stays "0".
    assert response.json()["settings"]["message_prices"] == PRICES
    assert (await client.get(path(seeded))).json()["message_prices"] == PRICES
    [change] = await settings_history(store, seeded.account_id)
    assert change.reach is not None
    assert change.reach["message_prices"] == PRICES


async def test_every_calling_code_may_have_its_price(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    every = {str(code): price("0.01") for code in COUNTRY_CODE_TO_REGION_CODE}
    response = await client.put(path(seeded), json=body(_with(by_country_code=every)))
    assert response.status_code == 200, response.text
    assert len(response.json()["settings"]["message_prices"]["by_country_code"]) == len(every)


async def test_only_a_default_is_needed(client: httpx.AsyncClient, seeded: Seeded) -> None:
    response = await client.put(path(seeded), json=body({"default": price("0.01", "EUR")}))
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["message_prices"] == {
        "default": price("0.01", "EUR"),
        "by_country_code": {},
        "template": None,
    }


async def test_a_body_without_prices_clears_them(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    await client.put(path(seeded), json=body(PRICES))
    # PUT replaces the whole document: left out is null, like the template fallback.
    response = await client.put(
        path(seeded), json={"enabled": True, "expiry_hours": 5, "message": GOOD}
    )
    assert response.status_code == 200, response.text
    assert (await client.get(path(seeded))).json()["message_prices"] is None
    newest, older = await settings_history(store, seeded.account_id)
    assert newest.reach is not None and newest.reach["message_prices"] is None
    assert older.reach is not None and older.reach["message_prices"] == PRICES


def _with(**changes: Any) -> dict[str, Any]:
    return PRICES | changes


@pytest.mark.parametrize(
    ("prices", "loc", "rule"),
    [
        # Money is never a JSON number, not even a whole one.
        (_with(default=price(0.004)), ["default", "amount"], "price_amount_type"),
        (_with(default=price(1)), ["default", "amount"], "price_amount_type"),
        (_with(template=price(None)), ["template", "amount"], "price_amount_type"),
        (_with(default=price("-0.0040")), ["default", "amount"], "price_amount_negative"),
        (_with(default=price("0.0000001")), ["default", "amount"], "price_amount_places"),
        (_with(default=price("1000")), ["default", "amount"], "price_amount_range"),
        (_with(default=price("1e-3")), ["default", "amount"], "price_amount"),
        (_with(default=price("NaN")), ["default", "amount"], "price_amount"),
        (_with(default=price(" 0.1")), ["default", "amount"], "price_amount"),
        (_with(default=price(".5")), ["default", "amount"], "price_amount"),
        (_with(default=price("0," + "5")), ["default", "amount"], "price_amount"),
        (_with(default=price("0" * 40 + "1")), ["default", "amount"], "price_amount"),
        (_with(default=price("0.1", "usd")), ["default", "currency"], "currency"),
        (_with(default=price("0.1", "US")), ["default", "currency"], "currency"),
        (_with(default=price("0.1", "US$")), ["default", "currency"], "currency"),
        (
            _with(by_country_code={"44": price("0.03", "EUR")}),
            [],
            "price_currency",
        ),
        (_with(template=price("0.05", "EUR")), [], "price_currency"),
        (
            _with(by_country_code={"999": price("0.03")}),
            ["by_country_code", "999", "[key]"],
            "country_code",
        ),
        (
            _with(by_country_code={"+44": price("0.03")}),
            ["by_country_code", "+44", "[key]"],
            "country_code",
        ),
        (
            _with(by_country_code={"044": price("0.03")}),
            ["by_country_code", "044", "[key]"],
            "country_code",
        ),
        (
            _with(by_country_code={"UK": price("0.03")}),
            ["by_country_code", "UK", "[key]"],
            "country_code",
        ),
        ({"by_country_code": {}}, ["default"], "missing"),
        (_with(default=None), ["default"], "model_attributes_type"),
        (_with(default=[]), ["default"], "model_attributes_type"),
        (_with(by_country_code=[]), ["by_country_code"], "dict_type"),
        (_with(default={"amount": "0.1"}), ["default", "currency"], "missing"),
        (_with(default=price("0.1") | {"cents": 10}), ["default", "cents"], "extra_forbidden"),
        (_with(tiers=[]), ["tiers"], "extra_forbidden"),
        ("0.0040", [], "model_attributes_type"),
    ],
)
async def test_a_bad_price_is_a_422_naming_field_and_rule(
    client: httpx.AsyncClient,
    seeded: Seeded,
    prices: Any,
    loc: list[str | int],
    rule: str,
) -> None:
    error = only_error(await client.put(path(seeded), json=body(prices)))
    assert error["loc"] == ["body", "message_prices", *loc]
    assert error["type"] == rule
    assert error["msg"]
    # Nothing was saved.
    assert (await client.get(path(seeded))).json()["version"] == 0


async def test_the_messages_name_the_rule(client: httpx.AsyncClient, seeded: Seeded) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (_with(default=price(0.004)), "not a JSON number"),
        (_with(default=price("-1")), "must not be negative"),
        (_with(default=price("0.1234567")), "at most 6 decimal places"),
        (_with(default=price("1000.0")), "below 1000"),
        (_with(default=price("0.1", "$")), "3 capital letters"),
        (_with(template=price("0.05", "EUR")), "default is USD, template is EUR"),
        (
            _with(by_country_code={"44": price("0.03", "GBP")}),
            "default is USD, by_country_code 44 is GBP",
        ),
        (_with(by_country_code={"999": price("0.03")}), "country calling code"),
    ]
    for prices, words in cases:
        error = only_error(await client.put(path(seeded), json=body(prices)))
        assert words in error["msg"], (prices, error)
