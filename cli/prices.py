"""``wa-sessions settings --price/--currency/--no-prices``: the account's message prices
(``message_prices``, docs/analytics.md#cost) changed one price at a time.

Pure: ``parse`` reads the options (a ``PriceError`` for bad syntax, before any request),
``merged`` applies them to the saved prices, ``lines`` shows them. Amounts stay the strings
written on the command line: the API alone validates them, and money never becomes a float.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

# The field of the settings document (core.reach.SETTINGS_FIELDS).
FIELD: Final = "message_prices"
DEFAULT_CURRENCY: Final = "USD"
DEFAULT: Final = "default"
TEMPLATE: Final = "template"
SYNTAX: Final = "KEY=AMOUNT, KEY being default, template or a country calling code (44)"


class PriceError(ValueError):
    """A --price/--currency option that cannot be applied; the message says why."""


@dataclass(frozen=True)
class PriceEdits:
    """What the options change. ``None`` as an amount removes that price (``44=``,
    ``template=``); codes absent from ``by_country_code`` are kept as saved."""

    default: str | None = None
    template: str | None = None
    template_given: bool = False
    by_country_code: dict[str, str | None] = field(default_factory=dict)
    currency: str | None = None

    @property
    def given(self) -> bool:
        """Whether any --price or --currency was given."""
        return bool(
            self.default is not None
            or self.template_given
            or self.by_country_code
            or self.currency is not None
        )


def parse(prices: Sequence[str], currency: str | None) -> PriceEdits:
    """``["default=0.0040", "44=0.0300", "template="]`` and ``--currency`` as edits."""
    default: str | None = None
    template: str | None = None
    template_given = False
    codes: dict[str, str | None] = {}
    seen: set[str] = set()
    for text in prices:
        key, equals, amount = (part.strip() for part in text.partition("="))
        if not equals or not key:
            raise PriceError(f"--price {text!r} is not {SYNTAX}, e.g. --price 44=0.0300")
        if key != DEFAULT and key != TEMPLATE and not (key.isascii() and key.isdigit()):
            raise PriceError(
                f"--price {text!r}: {key!r} is not default, template or a country calling "
                "code written as digits without + (44)"
            )
        if key in seen:
            raise PriceError(f"--price {key} is given twice")
        seen.add(key)
        if key == DEFAULT:
            if not amount:
                raise PriceError(
                    "--price default= needs an amount: every list has a default price "
                    "(--no-prices removes them all)"
                )
            default = amount
        elif key == TEMPLATE:
            template, template_given = amount or None, True
        else:
            codes[key] = amount or None
    if currency is not None and not currency.strip():
        raise PriceError("--currency needs a currency code such as USD")
    return PriceEdits(
        default=default,
        template=template,
        template_given=template_given,
        by_country_code=codes,
        currency=None if currency is None else currency.strip().upper(),
    )


def merged(saved: Mapping[str, Any] | None, edits: PriceEdits) -> dict[str, Any]:
    """The saved ``message_prices`` (or none) with ``edits`` applied: the whole list to send.

    One currency for every price: ``--currency``, else the saved one, else USD. A code's price
    replaces that code's only; the saved amounts go back exactly as they were written.
    """
    if edits.default is not None:
        default = edits.default
    elif saved is not None:
        default = str(saved["default"]["amount"])
    else:
        raise PriceError(
            "no message prices are saved: give the default price too (--price default=0.0040)"
        )
    currency = edits.currency or (
        DEFAULT_CURRENCY if saved is None else str(saved["default"]["currency"])
    )
    amounts: dict[str, str] = {}
    template: str | None = None
    if saved is not None:
        amounts = {code: price["amount"] for code, price in saved["by_country_code"].items()}
        template = saved["template"]["amount"] if saved.get("template") else None
    for code, amount in edits.by_country_code.items():
        if amount is None:
            amounts.pop(code, None)
        else:
            amounts[code] = amount
    if edits.template_given:
        template = edits.template

    def price(amount: str) -> dict[str, str]:
        return {"amount": amount, "currency": currency}

    return {
        "default": price(default),
        "by_country_code": {code: price(amounts[code]) for code in _by_code(amounts)},
        "template": None if template is None else price(template),
    }


def _by_code(codes: Mapping[str, Any]) -> list[str]:
    """Calling codes in numeric order (digits without a leading 0: shorter is smaller)."""
    return sorted(codes, key=lambda code: (len(code), code))


def pairs(prices: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The prices as ``(key, value)`` lines of the settings block (``cli.render.settings``):
    the currency, then each price; ``prices: off`` without."""
    if not prices:
        return [("prices", "off")]
    shown = [
        ("prices", str(prices["default"]["currency"])),
        ("  default", str(prices["default"]["amount"])),
    ]
    if prices.get("template"):
        shown.append(("  template", str(prices["template"]["amount"])))
    by_code = prices.get("by_country_code") or {}
    shown.extend((f"  +{code}", str(by_code[code]["amount"])) for code in _by_code(by_code))
    return shown
