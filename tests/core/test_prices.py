"""``core.prices``: which price a message pays, and the estimate's exact decimal arithmetic
(docs/analytics.md#cost). The settings' validation rules are tests/api/test_settings_prices.py's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.prices import CostEstimate, MessagePrices, Money, calling_code, estimate_cost
from core.vocabulary import SendKind

REMINDER, TEMPLATE = SendKind.REMINDER, SendKind.TEMPLATE


def prices(**extra: object) -> MessagePrices:
    return MessagePrices.model_validate(
        {
            "default": {"amount": "0.0040", "currency": "USD"},
            "by_country_code": {
                "1": {"amount": "0.025", "currency": "USD"},
                "44": {"amount": "0.0300", "currency": "USD"},
                "971": {"amount": "0.05", "currency": "USD"},
            },
        }
        | extra
    )


@pytest.mark.parametrize(
    ("digits", "code"),
    [
        ("155", "1"),  # NANP: one digit
        ("447", "44"),
        ("44", "44"),
        ("919", "91"),
        ("971", "971"),  # three digits
        ("97150", "971"),
        ("7", "7"),
        ("0447", None),  # not E.164
        ("999", None),  # no such code
        ("28", None),  # 28x is unassigned
        ("", None),
        (None, None),
    ],
)
def test_the_calling_code_is_the_first_one_of_one_to_three_digits(
    digits: str | None, code: str | None
) -> None:
    assert calling_code(digits) == code


def test_the_price_of_a_message() -> None:
    listed = prices()
    assert listed.price_of(REMINDER, "447") == Decimal("0.0300")
    assert listed.price_of(REMINDER, "155") == Decimal("0.025")
    assert listed.price_of(REMINDER, "971") == Decimal("0.05")
    assert listed.price_of(REMINDER, "919") == Decimal("0.0040")  # no price of its own
    assert listed.price_of(REMINDER, None) == Decimal("0.0040")  # BSUID only
    # Without a template price a template pays by country; with one, that.
    assert listed.price_of(TEMPLATE, "447") == Decimal("0.0300")
    with_template = prices(template={"amount": "0.1", "currency": "USD"})
    assert with_template.price_of(TEMPLATE, "447") == Decimal("0.1")
    assert with_template.price_of(REMINDER, "447") == Decimal("0.0300")


def test_the_estimate_is_exact_in_the_prices_precision() -> None:
    listed = prices()
    assert listed.places == 4
    estimate = estimate_cost(
        listed, {(REMINDER, "447"): 3, (REMINDER, None): 1, (TEMPLATE, "155"): 10}
    )
    # 3 × 0.03 + 0.004 = 0.0940; + 10 × 0.025 = 0.3440. Floats would give 0.34400000000000003.
    assert estimate == CostEstimate(
        total=Money(Decimal("0.3440"), "USD"), reminders=Money(Decimal("0.0940"), "USD")
    )
    assert str(estimate.total.amount) == "0.3440"
    assert estimate_cost(listed, {}).total == Money(Decimal("0.0000"), "USD")


def test_many_small_prices_add_up_exactly() -> None:
    listed = MessagePrices.model_validate({"default": {"amount": "0.000001", "currency": "EUR"}})
    estimate = estimate_cost(listed, {(REMINDER, "491"): 1_000_003})
    assert str(estimate.total.amount) == "1.000003"


@pytest.mark.parametrize(
    ("cost", "replied", "per_reply"),
    [
        ("0.1080", 5, "0.0216"),
        ("0.0100", 3, "0.0033"),
        ("0.0001", 2, "0.0000"),  # 0.00005: half to even, down
        ("0.0003", 2, "0.0002"),  # 0.00015: half to even, up
        ("0.002468", 5, "0.000494"),  # six places kept when the prices have six
        ("5", 2, "2.5000"),
    ],
)
def test_the_cost_per_reply_rounds_half_to_even(cost: str, replied: int, per_reply: str) -> None:
    estimate = CostEstimate(
        total=Money(Decimal(cost), "USD"), reminders=Money(Decimal(cost), "USD")
    )
    found = estimate.per_reply(replied)
    assert found is not None
    assert str(found.amount) == per_reply


def test_no_replies_no_cost_per_reply() -> None:
    estimate = CostEstimate(
        total=Money(Decimal("1.00"), "USD"), reminders=Money(Decimal("1.00"), "USD")
    )
    assert estimate.per_reply(0) is None
