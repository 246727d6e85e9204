"""Does it pay: an account's reminders, replies and their estimated cost over a range of UTC days
(docs/analytics.md#the-analytics-endpoint).

The database counts (``store.analytics``); this route picks the range, divides, and prices the
delivered messages with ``core.prices``, in ``Decimal``: the answer's money is decimal strings,
so that no client ever does money arithmetic in floats.
"""

from __future__ import annotations

import re
from datetime import UTC, date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from api.deps import AccountDep, ResourcesDep
from api.schemas import AnalyticsDayOut, AnalyticsOut, MoneyOut, validation_error
from core.prices import estimate_cost

router = APIRouter(prefix="/accounts/{account_id}/analytics", tags=["analytics"])

# The default range is the last 30 days, today included; a range spans at most a leap year.
DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 366
RATE_PLACES: Final = Decimal("0.0001")
DAY_RULE: Final = "a UTC day written YYYY-MM-DD"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _utc_day(value: Any) -> Any:
    # Only YYYY-MM-DD: pydantic alone would also take a Unix timestamp or a datetime's text.
    if not isinstance(value, str):
        return value
    try:
        if _DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:  # 2026-02-30
        pass
    raise PydanticCustomError("utc_day", f"not {DAY_RULE}")


UTCDay = Annotated[date | None, BeforeValidator(_utc_day)]


def reply_rate(replied: int, sent: int) -> float | None:
    """``replied / sent`` rounded half-even to 4 places (exactly, in Decimal, then a JSON
    number); None when nothing was sent."""
    if sent == 0:
        return None
    return float((Decimal(replied) / Decimal(sent)).quantize(RATE_PLACES, ROUND_HALF_EVEN))


@router.get(
    "",
    response_model=AnalyticsOut,
    responses={404: {"description": "no such account"}},
)
async def get_analytics(
    account: AccountDep,
    resources: ResourcesDep,
    first: Annotated[
        UTCDay,
        Query(alias="from", description=f"the first day, included: {DAY_RULE}; default to - 29"),
    ] = None,
    last: Annotated[
        UTCDay, Query(alias="to", description=f"the last day, included: {DAY_RULE}; default today")
    ] = None,
) -> AnalyticsOut:
    """Reminders sent, delivered, read, replied and failed, the reply rate and the median reply
    time, templates sent, and the estimated cost, in total and per day."""
    if last is None:
        last = resources.clock().astimezone(UTC).date()
    if first is None:
        back = timedelta(days=DEFAULT_DAYS - 1)
        # Shorter at the start of the calendar: 0001-01-05 minus 29 days is no date.
        first = last - back if last - date.min >= back else date.min
    if first > last:
        raise validation_error(("query", "from"), "from must not be after to", "date_order")
    if (last - first).days + 1 > MAX_DAYS:
        raise validation_error(
            ("query", "from"),
            f"the range spans at most {MAX_DAYS} days, from and to included",
            "date_span",
        )
    report = await resources.store.analytics.report(
        account_id=account.account_id, first=first, last=last
    )
    totals = report.totals
    cost = (
        None
        if report.message_prices is None
        else estimate_cost(report.message_prices, report.delivered_by_recipient)
    )
    return AnalyticsOut(
        from_=first,
        to=last,
        reminders_sent=totals.reminders_sent,
        delivered=totals.delivered,
        read=totals.read,
        failed=totals.failed,
        replied=totals.replied,
        reply_rate=reply_rate(totals.replied, totals.reminders_sent),
        median_reply_seconds=report.median_reply_seconds,
        templates_sent=totals.templates_sent,
        estimated_cost=None if cost is None else MoneyOut.of(cost.total),
        cost_per_reply=None if cost is None else MoneyOut.of(cost.per_reply(totals.replied)),
        days=[
            AnalyticsDayOut(
                date=day,
                reminders_sent=counts.reminders_sent,
                replied=counts.replied,
                reply_rate=reply_rate(counts.replied, counts.reminders_sent),
            )
            for day, counts in report.days
        ],
    )
