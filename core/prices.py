"""What an account pays Meta per delivered message, and the estimate built on it
(docs/analytics.md#cost).

``MessagePrices`` is the ``message_prices`` field of the settings document: a default price, a
price per country calling code, and optionally one for templates. It is validated here (a bad
value is a 422 naming the field and the rule), kept as JSON in the settings row, and used by the
analytics endpoint through ``estimate_cost``.

Money never goes through floats: amounts are decimal *strings* in JSON (a JSON number is
refused) and ``decimal.Decimal`` in Python, so "0.0040" stays exactly 0.0040 through every sum.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Final

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from core.vocabulary import SendKind

# Bounds of one amount: Meta's prices are fractions of a dollar; 6 places is a millionth of a
# unit, finer than any price list, and below 1000 leaves room for any currency's figures.
MAX_PRICE_PLACES: Final = 6
MAX_PRICE: Final = Decimal(1000)
# cost_per_reply is a quotient: it is rounded to at least this many places.
MIN_QUOTIENT_PLACES: Final = 4

AMOUNT_RULE: Final = (
    f'a decimal string such as "0.0040": 0 to below {MAX_PRICE}, '
    f"at most {MAX_PRICE_PLACES} decimal places"
)
CURRENCY_RULE: Final = "a currency code of 3 capital letters, such as USD or EUR"
COUNTRY_CODE_RULE: Final = "a country calling code such as 1, 44 or 91, without + or leading 0"

# Digits with an optional fraction; a sign is checked apart so that "-1" gets its own rule.
_AMOUNT = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?")
# Longer than any amount within the bounds (leading zeros aside): refused before Decimal reads it.
_MAX_AMOUNT_TEXT = 32
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY_CODE = re.compile(r"[1-9][0-9]{0,2}")


def _amount(value: Any) -> str:
    # Before pydantic's own str validation, so that a JSON number gets this rule, not a generic
    # "should be a valid string".
    if not isinstance(value, str):
        raise PydanticCustomError(
            "price_amount_type",
            'an amount is a decimal string such as "0.0040", not a JSON number (money never '
            "goes through floats)",
        )
    found = _AMOUNT.fullmatch(value) if len(value) <= _MAX_AMOUNT_TEXT else None
    if found is None:
        raise PydanticCustomError("price_amount", 'not a decimal amount such as "0.0040"')
    if value.startswith("-"):
        raise PydanticCustomError("price_amount_negative", "a price must not be negative")
    if len(found.group(2) or "") > MAX_PRICE_PLACES:
        raise PydanticCustomError(
            "price_amount_places", f"at most {MAX_PRICE_PLACES} decimal places"
        )
    if Decimal(value) >= MAX_PRICE:
        raise PydanticCustomError("price_amount_range", f"a price must be below {MAX_PRICE}")
    return value


def _currency(value: str) -> str:
    if not _CURRENCY.fullmatch(value):
        raise PydanticCustomError("currency", f"not {CURRENCY_RULE}")
    return value


def _country_code(value: str) -> str:
    if not _COUNTRY_CODE.fullmatch(value) or int(value) not in COUNTRY_CODE_TO_REGION_CODE:
        raise PydanticCustomError("country_code", f"not {COUNTRY_CODE_RULE}")
    return value


Amount = Annotated[str, BeforeValidator(_amount), Field(description=AMOUNT_RULE)]
Currency = Annotated[str, Field(description=CURRENCY_RULE), AfterValidator(_currency)]
CountryCode = Annotated[str, Field(description=COUNTRY_CODE_RULE), AfterValidator(_country_code)]


class Price(BaseModel):
    """What one delivered message costs. The amount is kept as it was written ("0.0040")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Amount
    currency: Currency

    @property
    def value(self) -> Decimal:
        return Decimal(self.amount)


class MessagePrices(BaseModel):
    """The account's price list: ``default`` for every recipient whose calling code has no price
    of its own (and for recipients known only by BSUID); ``template`` for templates, when set.
    One currency for all of them, so that the estimate is one sum."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: Price
    by_country_code: dict[CountryCode, Price] = Field(
        default_factory=dict,
        # At most one per calling code phonenumbers knows (215): the keys are bounded by that.
        description='price per country calling code, the code as digits ("44")',
    )
    template: Price | None = Field(
        default=None, description="price of a template; null: templates cost what reminders do"
    )

    @model_validator(mode="after")
    def _one_currency(self) -> MessagePrices:
        named = [("by_country_code " + code, p) for code, p in self.by_country_code.items()]
        if self.template is not None:
            named.append(("template", self.template))
        for name, price in named:
            if price.currency != self.default.currency:
                raise PydanticCustomError(
                    "price_currency",
                    "every price of an account has the same currency: default is "
                    f"{self.default.currency}, {name} is {price.currency}",
                )
        return self

    @property
    def currency(self) -> str:
        return self.default.currency

    @property
    def places(self) -> int:
        """The most decimal places any price is written with: the estimate's precision."""
        prices = [self.default, *self.by_country_code.values()]
        if self.template is not None:
            prices.append(self.template)
        return max(_places(price.value) for price in prices)

    def price_of(self, kind: SendKind, wa_id_prefix: str | None) -> Decimal:
        """What one delivered message of ``kind`` costs, sent to a number starting with
        ``wa_id_prefix`` (its first digits; None for a recipient known only by BSUID)."""
        if kind is SendKind.TEMPLATE and self.template is not None:
            return self.template.value
        code = calling_code(wa_id_prefix)
        found = None if code is None else self.by_country_code.get(code)
        return (found or self.default).value


def _places(amount: Decimal) -> int:
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # amounts are finite: the pattern admits digits only
    return max(0, -exponent)


def calling_code(digits: str | None) -> str | None:
    """The country calling code a number (E.164 digits without +, or its first three) starts
    with, or None. Calling codes are prefix-free, so the first of 1, 2 or 3 digits that is one
    is the one."""
    if not digits or digits[0] == "0":  # not E.164 (and "01" is no spelling of code 1)
        return None
    for length in (1, 2, 3):
        head = digits[:length]
        if len(head) == length and head.isdigit() and int(head) in COUNTRY_CODE_TO_REGION_CODE:
            return head
    return None


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """The estimate of a period: ``total`` of every delivered message, and ``reminders``, the
    part spent on reminders (what a reply costs is computed from it)."""

    total: Money
    reminders: Money

    def per_reply(self, replied: int) -> Money | None:
        """The reminders' cost divided by the replies they earned; None without replies."""
        if replied <= 0:
            return None
        places = max(MIN_QUOTIENT_PLACES, _places(self.reminders.amount))
        amount = (self.reminders.amount / replied).quantize(
            Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN
        )
        return Money(amount=amount, currency=self.reminders.currency)


def estimate_cost(
    prices: MessagePrices, delivered: Mapping[tuple[SendKind, str | None], int]
) -> CostEstimate:
    """The cost of the delivered messages, counted by kind and the recipient number's first
    digits (``None``: no number), at ``prices``; exact, in the prices' own precision."""
    total = reminders = Decimal(0)
    for (kind, prefix), count in delivered.items():
        cost = prices.price_of(kind, prefix) * count
        total += cost
        if kind is SendKind.REMINDER:
            reminders += cost
    exact = Decimal(1).scaleb(-prices.places)
    return CostEstimate(
        total=Money(total.quantize(exact), prices.currency),
        reminders=Money(reminders.quantize(exact), prices.currency),
    )
