"""Instants go in aware, come out aware UTC, on both dialects; naive values are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from core.vocabulary import ReminderOutcome
from store.repository import Store
from tests.store.conftest import FakeClock
from tests.store_reads import reminder_by_id

KOLKATA = timezone(timedelta(hours=5, minutes=30))


async def test_aware_datetimes_round_trip_as_utc(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    clock.now = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=KOLKATA)
    t = datetime(2025, 2, 28, 23, 59, 59, 999999, tzinfo=KOLKATA)
    written = await store.reminders.record_decision(
        account_id=account_id,
        conversation_key="k",
        wa_id="1",
        last_customer_message_at=t,
        outcome=ReminderOutcome.SKIPPED_DISABLED,
        reason=None,
    )
    read = await reminder_by_id(store, written.reminder_id)
    assert read is not None
    for value, original in (
        (read.last_customer_message_at, t),
        (read.decided_at, clock.now),
        (read.created_at, clock.now),
    ):
        assert value == original
        assert value.tzinfo is UTC
    assert read.last_customer_message_at == datetime(2025, 2, 28, 18, 29, 59, 999999, tzinfo=UTC)

    account = await store.accounts.get(account_id=account_id)
    assert account is not None and account.created_at.tzinfo is UTC


async def test_naive_datetimes_are_refused(store: Store, account_id: str) -> None:
    with pytest.raises(StatementError, match="naive datetime") as caught:
        await store.reminders.record_decision(
            account_id=account_id,
            conversation_key="k",
            wa_id="1",
            last_customer_message_at=datetime(2025, 1, 1, 12, 0),
            outcome=ReminderOutcome.SKIPPED_DISABLED,
            reason=None,
        )
    assert isinstance(caught.value.orig, ValueError)
