"""What an account's reminders came to over a range of UTC days (docs/analytics.md).

Everything is counted by the database, never by loading records: one read transaction of at
most four statements, each one range of ``ix_reminders_account_kind_decided`` (account, kind,
decision time, then every column they read, so that both dialects can answer from the index
alone)::

    the settings row                      the account's message_prices
    GROUP BY kind, UTC day                sent, delivered, read, replied, failed per day
    GROUP BY kind, first 3 digits of      delivered messages by recipient country, for the cost
      the recipient's number              (only when the account has prices)
    ORDER BY reply_seconds LIMIT/OFFSET   the middle one or two reply times (only with replies)

The totals are the sums of the day rows (at most 2 × 366 aggregates), which saves a fourth scan
of the range. A record is in the range when its ``decided_at`` (the send time of a sent one)
falls on one of the days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, func, literal_column, or_, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from core.vocabulary import DeliveryStatus, ReminderOutcome, SendKind
from store.errors import AccountNotFound
from store.models import ReminderRow
from store.records import AccountAnalytics, SendCounts
from store.settings import settings_of
from store.transactions import Transactions

# A reminder counts as delivered once Meta said delivered or read (read implies delivered).
DELIVERED = (DeliveryStatus.DELIVERED, DeliveryStatus.READ)
# Reminders that did not reach the customer: refused by Meta when sent, or failed afterwards.
FAILED_OUTCOMES = (ReminderOutcome.FAILED, ReminderOutcome.FAILED_WINDOW_CLOSED)
# How many digits of a number decide its country calling code (codes are 1-3 digits, and no
# code is the beginning of another: core.prices.calling_code).
PREFIX_DIGITS = 3


class _Day(TypeDecorator[date]):
    """A day as ``utc_day`` gives it: a ``date`` on PostgreSQL, ISO text on SQLite."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> date | None:
        if value is None or isinstance(value, date):
            return value
        return date.fromisoformat(str(value))


class utc_day(FunctionElement[date]):  # noqa: N801 - named like the SQL functions it stands for
    """The UTC calendar day of a ``store.types.UTCDateTime`` column, in each dialect's SQL."""

    type = _Day()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored as naive UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff' (store.types): the day is its first
    # ten characters, which is cheaper than date() parsing it.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # timestamptz AT TIME ZONE 'UTC' is the UTC wall time, whatever the session's time zone.
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    # COUNT of a CASE without ELSE counts the rows meeting the condition (0, never NULL), on
    # both dialects.
    return func.count(case((condition, 1)))


def days_of(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class Analytics:
    """Counts over an account's reminder records (docs/analytics.md#the-analytics-endpoint)."""

    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def report(self, *, account_id: str, first: date, last: date) -> AccountAnalytics:
        """The account's sends decided from ``first`` to ``last`` (UTC days, both included)."""
        if last < first:
            raise ValueError("last is before first")
        # Inclusive bounds: the end of ``last`` is still a datetime for 9999-12-31.
        in_range = and_(
            ReminderRow.account_id == account_id,
            ReminderRow.decided_at >= datetime.combine(first, time.min, UTC),
            ReminderRow.decided_at <= datetime.combine(last, time.max, UTC),
        )
        async with self._tx.read() as tx:
            settings = await settings_of(tx, account_id)
            if settings is None:
                raise AccountNotFound(account_id)
            by_day, timed = await _by_day(tx, in_range)
            totals = sum(by_day.values(), SendCounts())
            median = await _median_reply_seconds(tx, in_range, timed)
            prices = settings.message_prices
            delivered = {} if prices is None else await _delivered_by_recipient(tx, in_range)
        return AccountAnalytics(
            first=first,
            last=last,
            totals=totals,
            days=[(day, by_day.get(day, SendCounts())) for day in days_of(first, last)],
            median_reply_seconds=median,
            message_prices=prices,
            delivered_by_recipient=delivered,
        )


_SENT = ReminderRow.outcome == ReminderOutcome.SENT
_DELIVERED = and_(_SENT, ReminderRow.delivery_status.in_(DELIVERED))
_REPLIED = and_(_SENT, ReminderRow.replied_at.is_not(None))
# The replies whose time is known: the median's population (record_reply writes both columns).
_TIMED = and_(_REPLIED, ReminderRow.reply_seconds.is_not(None))


async def _by_day(
    tx: AsyncSession, in_range: ColumnElement[bool]
) -> tuple[dict[date, SendCounts], int]:
    """The counts of each day that has any, and how many replies have a reply time."""
    day = utc_day(ReminderRow.decided_at).label("day")
    failed = or_(
        ReminderRow.outcome.in_(FAILED_OUTCOMES),
        and_(_SENT, ReminderRow.delivery_status == DeliveryStatus.FAILED),
    )
    rows = await tx.execute(
        select(
            ReminderRow.kind,
            day,
            _count(_SENT),
            _count(_DELIVERED),
            _count(and_(_SENT, ReminderRow.delivery_status == DeliveryStatus.READ)),
            _count(_REPLIED),
            _count(failed),
            _count(_TIMED),
        )
        .where(
            in_range,
            ReminderRow.kind.in_(list(SendKind)),
            # Only these outcomes count anywhere: skipped and in-flight records are left out.
            ReminderRow.outcome.in_([ReminderOutcome.SENT, *FAILED_OUTCOMES]),
        )
        .group_by(ReminderRow.kind, day)
    )
    by_day: dict[date, SendCounts] = {}
    timed = 0
    for kind, on, sent, delivered, read, replied, failed_count, timed_count in rows:
        if SendKind(kind) is SendKind.TEMPLATE:
            counts = SendCounts(templates_sent=sent)
        else:
            counts = SendCounts(
                reminders_sent=sent,
                delivered=delivered,
                read=read,
                replied=replied,
                failed=failed_count,
            )
            timed += timed_count
        by_day[on] = by_day.get(on, SendCounts()) + counts
    return by_day, timed


async def _median_reply_seconds(
    tx: AsyncSession, in_range: ColumnElement[bool], count: int
) -> float | None:
    """The median of ``count`` reply times: the middle one, or the mean of the middle two.

    ORDER BY … LIMIT/OFFSET on both dialects (PostgreSQL's percentile_cont has no SQLite
    counterpart); the database sorts only the replied reminders' times.
    """
    if count == 0:
        return None
    middle = await tx.scalars(
        select(ReminderRow.reply_seconds)
        .where(in_range, ReminderRow.kind == SendKind.REMINDER, _TIMED)
        .order_by(ReminderRow.reply_seconds)
        .limit(1 if count % 2 else 2)
        .offset((count - 1) // 2)
    )
    values = [value for value in middle if value is not None]
    return sum(values) / len(values) if values else None


async def _delivered_by_recipient(
    tx: AsyncSession, in_range: ColumnElement[bool]
) -> dict[tuple[SendKind, str | None], int]:
    """Delivered reminders and templates by kind and the recipient number's first digits."""
    # Literal positions, so that GROUP BY repeats the very expression of the select list
    # (PostgreSQL compares them, and two bound parameters would not be the same expression).
    prefix = func.substr(
        ReminderRow.wa_id, literal_column("1"), literal_column(str(PREFIX_DIGITS))
    ).label("prefix")
    rows = await tx.execute(
        select(ReminderRow.kind, prefix, func.count())
        .where(in_range, ReminderRow.kind.in_(list(SendKind)), _DELIVERED)
        .group_by(ReminderRow.kind, prefix)
    )
    return {(SendKind(kind), digits): count for kind, digits, count in rows}
