"""The audit trail: newest first, keyset pagination with opaque cursors, newest per conversation."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from core.vocabulary import ReminderOutcome
from store.errors import InvalidCursor
from store.repository import Store
from tests.store.conftest import START, FakeClock
from tests.store_reads import reminder_by_id

T = START - timedelta(hours=23)


async def _decide(
    store: Store, account_id: str, *, key: str, wa_id: str, outcome: ReminderOutcome
) -> str:
    record = await store.reminders.record_decision(
        account_id=account_id,
        conversation_key=key,
        wa_id=wa_id,
        last_customer_message_at=T,
        outcome=outcome,
        reason=None,
    )
    return record.reminder_id


async def test_pages_newest_first(store: Store, account_id: str, clock: FakeClock) -> None:
    expected: list[tuple[object, str]] = []
    for n in range(7):
        # Pairs of decisions share an instant, so the reminder_id tie-breaker is exercised.
        if n % 2 == 0:
            clock.advance(seconds=1)
        reminder_id = await _decide(
            store, account_id, key=f"k{n}", wa_id=f"1{n}", outcome=ReminderOutcome.SKIPPED_DISABLED
        )
        expected.append((clock.now, reminder_id))
    await store.accounts.upsert(
        account_id="other", company_name="O", phone_number_id="2", access_token="t"
    )
    await _decide(store, "other", key="k", wa_id="1", outcome=ReminderOutcome.SKIPPED_DISABLED)
    expected.sort(reverse=True)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await store.reminders.page(account_id=account_id, limit=3, cursor=cursor)
        pages += 1
        seen.extend(item.reminder_id for item in page.items)
        assert all(item.account_id == account_id for item in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [reminder_id for _, reminder_id in expected]
    assert pages == 3

    everything = await store.reminders.page(account_id=account_id, limit=7)
    assert everything.next_cursor is None  # an exact fit has no empty last page
    assert [item.reminder_id for item in everything.items] == seen


async def test_filter_by_customer(store: Store, account_id: str, clock: FakeClock) -> None:
    ids = []
    for wa_id in ("111", "222", "111"):
        clock.advance(seconds=1)
        ids.append(
            await _decide(
                store, account_id, key=f"k{wa_id}", wa_id=wa_id, outcome=ReminderOutcome.SENT
            )
        )
    page = await store.reminders.page(account_id=account_id, conversation_key="k111", limit=1)
    assert [item.reminder_id for item in page.items] == [ids[2]]
    rest = await store.reminders.page(
        account_id=account_id, conversation_key="k111", limit=1, cursor=page.next_cursor
    )
    assert [item.reminder_id for item in rest.items] == [ids[0]]
    assert rest.next_cursor is None


def _b64(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        _b64(b"not json"),
        _b64(json.dumps({"a": 1}).encode()),
        _b64(json.dumps(["2025-01-01T00:00:00", "naive"]).encode()),
        _b64(json.dumps(["yesterday", "id"]).encode()),
        _b64(json.dumps(["2025-01-01T00:00:00+00:00", 5]).encode()),
        _b64(b"\xff\xfe"),
        "",
    ],
)
async def test_invalid_cursor(store: Store, account_id: str, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        await store.reminders.page(account_id=account_id, cursor=cursor)


async def test_latest_reminder_per_conversation(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    await _decide(store, account_id, key="a", wa_id="1", outcome=ReminderOutcome.SKIPPED_DISABLED)
    clock.advance(seconds=1)
    newest_a = await _decide(
        store, account_id, key="a", wa_id="1", outcome=ReminderOutcome.SKIPPED_WINDOW_CLOSED
    )
    only_b = await _decide(store, account_id, key="b", wa_id="2", outcome=ReminderOutcome.SENT)
    await _decide(store, account_id, key="c", wa_id="3", outcome=ReminderOutcome.SENT)
    latest = await store.reminders.latest_by_key(
        account_id=account_id, conversation_keys=["a", "b", "missing"]
    )
    assert {key: record.reminder_id for key, record in latest.items()} == {
        "a": newest_a,
        "b": only_b,
    }
    assert await store.reminders.latest_by_key(account_id=account_id, conversation_keys=[]) == {}
    assert await reminder_by_id(store, "missing") is None
