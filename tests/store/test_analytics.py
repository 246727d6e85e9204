"""``store.analytics``: days are UTC days on both dialects, whatever the database session's time
zone, and the counts the cost needs are grouped by the recipient number's first digits. The
figures themselves are tests/api/test_analytics.py's."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from core.prices import MessagePrices
from core.vocabulary import DEFAULT_MESSAGE, DeliveryStatus, ReminderOutcome, SendKind
from store.db import create_sessionmaker
from store.errors import AccountNotFound
from store.models import ReminderRow
from store.records import SendCounts
from store.repository import Store

DAY = date(2026, 11, 3)
ZONE = "Pacific/Kiritimati"


def sent(at: datetime, *, wa_id: str | None, kind: SendKind = SendKind.REMINDER) -> dict[str, Any]:
    return {
        "reminder_id": str(uuid.uuid4()),
        "conversation_key": uuid.uuid4().hex,
        "wa_id": wa_id,
        "last_customer_message_at": at - timedelta(hours=2),
        "outcome": ReminderOutcome.SENT,
        "delivery_status": DeliveryStatus.DELIVERED,
        "attempts": 1,
        "decided_at": at,
        "created_at": at,
        "kind": kind,
    }


async def seed(store: Store, account_id: str, rows: list[dict[str, Any]]) -> None:
    async with store._transactions.write() as tx:
        await tx.execute(insert(ReminderRow), [row | {"account_id": account_id} for row in rows])


async def test_days_are_utc_days_whatever_the_sessions_time_zone(
    store: Store, account_id: str, empty_database_url: str
) -> None:
    midnight = datetime(2026, 11, 4, tzinfo=UTC)
    await seed(
        store,
        account_id,
        [
            sent(midnight - timedelta(minutes=30), wa_id="447911000001"),
            sent(midnight - timedelta(microseconds=1), wa_id="447911000002"),
            sent(midnight, wa_id="447911000003"),
        ],
    )
    reader, engine = store, None
    if empty_database_url.startswith("postgresql"):
        # A session 14 hours ahead of UTC: its local day of 23:30 UTC is already the next one.
        engine = create_async_engine(
            empty_database_url, connect_args={"server_settings": {"TimeZone": ZONE}}
        )
        reader = Store(create_sessionmaker(engine))
    try:
        if engine is not None:
            async with engine.connect() as connection:
                assert await connection.scalar(text("SHOW TimeZone")) == ZONE
        report = await reader.analytics.report(
            account_id=account_id, first=DAY, last=DAY + timedelta(days=1)
        )
    finally:
        if engine is not None:
            await engine.dispose()
    assert report.days == [
        (DAY, SendCounts(reminders_sent=2, delivered=2)),
        (DAY + timedelta(days=1), SendCounts(reminders_sent=1, delivered=1)),
    ]
    assert report.totals == SendCounts(reminders_sent=3, delivered=3)


async def test_delivered_messages_by_kind_and_first_digits(store: Store, account_id: str) -> None:
    noon = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=12)
    await seed(
        store,
        account_id,
        [
            sent(noon, wa_id="447911000001"),
            sent(noon, wa_id="447911000002"),
            sent(noon, wa_id="15551230001"),
            sent(noon, wa_id=None),
            sent(noon, wa_id="919800000001", kind=SendKind.TEMPLATE),
        ],
    )
    # Without prices the cost's grouping is not even run.
    report = await store.analytics.report(account_id=account_id, first=DAY, last=DAY)
    assert (report.message_prices, report.delivered_by_recipient) == (None, {})
    await store.settings.save(
        account_id=account_id,
        enabled=False,
        expiry_hours=23,
        message=DEFAULT_MESSAGE,
        changed_by="test",
        message_prices=MessagePrices.model_validate(
            {"default": {"amount": "0.01", "currency": "USD"}}
        ),
    )
    report = await store.analytics.report(account_id=account_id, first=DAY, last=DAY)
    assert report.message_prices is not None
    assert report.delivered_by_recipient == {
        (SendKind.REMINDER, "447"): 2,
        (SendKind.REMINDER, "155"): 1,
        (SendKind.REMINDER, None): 1,
        (SendKind.TEMPLATE, "919"): 1,
    }


async def test_a_range_backwards_or_an_unknown_account_is_refused(
    store: Store, account_id: str
) -> None:
    with pytest.raises(ValueError, match="before"):
        await store.analytics.report(account_id=account_id, first=DAY, last=DAY - timedelta(1))
    with pytest.raises(AccountNotFound):
        await store.analytics.report(account_id="nobody", first=DAY, last=DAY)
