"""Status webhooks through the API: one POST's statuses are applied a few hundred per
transaction, and every rule of one status at a time still holds; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, insert, select

from core.vocabulary import WINDOW_CLOSED_ERROR_CODE, ReminderOutcome
from store.db import create_engine
from store.models import ReminderRow
from store.records import ReminderRecord
from store.repository import Store
from tests.api.conftest import Seeded
from tests.api.support import on_both_databases, post_webhook, webhook_of
from tests.store_reads import reminder_by_id

T = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


# Every test here runs on both databases.
postgres_database, database_url = on_both_databases("api_statuses")


def _status(
    wamid: str,
    status: str,
    second: int,
    *,
    callback: str | None = None,
    error_code: int | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(T.timestamp()) + second),
        "recipient_id": "15550001111",
    }
    if callback is not None:
        item["biz_opaque_callback_data"] = callback
    if error_code is not None:
        item["errors"] = [{"code": error_code, "title": "Re-engagement message"}]
    return item


def _body(phone_number_id: str, statuses: list[dict[str, Any]]) -> dict[str, Any]:
    return webhook_of(phone_number_id, statuses=statuses)


async def _sent(store: Store, account_id: str, wamid: str) -> ReminderRecord:
    claim = await store.reminders.claim(
        account_id=account_id,
        conversation_key=f"conv-{uuid.uuid4().hex[:12]}",
        wa_id="15550001111",
        last_customer_message_at=T,
        text="Hi!",
    )
    return await store.reminders.finish(
        reminder_id=claim.record.reminder_id, outcome=ReminderOutcome.SENT, message_id=wamid
    )


async def _get(store: Store, reminder_id: str) -> ReminderRecord:
    record = await reminder_by_id(store, reminder_id)
    assert record is not None
    return record


async def test_one_posts_statuses_end_as_one_at_a_time(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    """sent → delivered → read ends ``read``; read then delivered stays ``read``; a failed
    131047 classifies the reminder; another account's wamid and reminder id change nothing;
    a wamid of no reminder is ignored; and the redelivered POST changes nothing."""
    other, _ = await store.accounts.upsert(
        account_id=f"other-{uuid.uuid4().hex[:8]}",
        company_name="Other Ltd.",
        phone_number_id=str(uuid.uuid4().int % 10**12),
        access_token="token-other",
    )
    forward = await _sent(store, seeded.account_id, "wamid.FWD")
    backward = await _sent(store, seeded.account_id, "wamid.BWD")
    closed = await _sent(store, seeded.account_id, "wamid.CLOSED")
    theirs = await _sent(store, other.account_id, "wamid.THEIRS")
    statuses = [
        _status("wamid.FWD", "sent", 1, callback=forward.reminder_id),
        _status("wamid.BWD", "read", 2),
        _status("wamid.THEIRS", "failed", 3, error_code=WINDOW_CLOSED_ERROR_CODE),
        _status("wamid.FWD", "delivered", 4, callback=forward.reminder_id),
        _status("wamid.CLOSED", "sent", 5),
        _status("wamid.NOBODY", "delivered", 6),
        _status("wamid.BWD", "delivered", 7),
        _status("wamid.OTHER", "read", 8, callback=theirs.reminder_id),
        _status("wamid.FWD", "read", 9, callback=forward.reminder_id),
        _status("wamid.CLOSED", "failed", 10, error_code=WINDOW_CLOSED_ERROR_CODE),
    ]
    body = _body(seeded.phone_number_id, statuses)
    response = await post_webhook(anon, body)
    assert response.status_code == 200, response.text
    assert response.json()["statuses"] == len(statuses)

    def at(second: int) -> datetime:
        return T + timedelta(seconds=second)

    after = {r.reminder_id: await _get(store, r.reminder_id) for r in (forward, backward, closed)}
    assert (after[forward.reminder_id].delivery_status, after[forward.reminder_id].outcome) == (
        "read",
        ReminderOutcome.SENT,
    )
    assert after[forward.reminder_id].delivery_updated_at == at(9)
    assert (
        after[backward.reminder_id].delivery_status,
        after[backward.reminder_id].delivery_updated_at,
    ) == ("read", at(2))
    assert (
        after[closed.reminder_id].delivery_status,
        after[closed.reminder_id].outcome,
        after[closed.reminder_id].error_code,
        after[closed.reminder_id].reason,
    ) == (
        "failed",
        ReminderOutcome.FAILED_WINDOW_CLOSED,
        WINDOW_CLOSED_ERROR_CODE,
        "Re-engagement message",
    )
    assert await _get(store, theirs.reminder_id) == theirs

    again = await post_webhook(anon, body)  # Meta redelivers the whole POST
    assert again.status_code == 200, again.text
    for reminder_id, record in after.items():
        assert await _get(store, reminder_id) == record
    assert await _get(store, theirs.reminder_id) == theirs


async def test_a_post_of_2000_statuses_applies_every_one(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store, database_url: str
) -> None:
    """2,000 sent reminders (inserted straight into the table: claiming each would take long),
    one ``delivered`` each, in one POST: every record is ``delivered``."""
    count = 2_000
    now = datetime.now(UTC)
    rows = [
        {
            "reminder_id": str(uuid.uuid4()),
            "account_id": seeded.account_id,
            "conversation_key": f"bulk-{i}",
            "wa_id": "15550001111",
            "user_id": None,
            "last_customer_message_at": T,
            "outcome": ReminderOutcome.SENT,
            "idempotency_key": f"{seeded.account_id}:bulk-{i}",
            "message_id": f"wamid.BULK{seeded.account_id}.{i}",
            "text": "Hi!",
            "attempts": 1,
            "decided_at": now,
            "created_at": now,
        }
        for i in range(count)
    ]
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(ReminderRow), rows)
        statuses = [
            _status(str(row["message_id"]), "delivered", 1, callback=str(row["reminder_id"]))
            for row in rows
        ]
        response = await post_webhook(anon, _body(seeded.phone_number_id, statuses))
        assert response.status_code == 200, response.text
        assert response.json()["statuses"] == count
        async with engine.connect() as connection:
            delivered = await connection.scalar(
                select(func.count()).where(
                    ReminderRow.account_id == seeded.account_id,
                    ReminderRow.delivery_status == "delivered",
                    ReminderRow.delivery_updated_at == T + timedelta(seconds=1),
                )
            )
    finally:
        await engine.dispose()
    assert delivered == count
