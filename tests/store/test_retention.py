"""Audit retention: old final records are purged in batches; records in flight never are."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.vocabulary import IN_FLIGHT_OUTCOMES, STORED_OUTCOMES, ReminderOutcome
from store.models import ReminderRow
from store.repository import Store
from store.retention import PURGE_BATCH, oldest_final
from tests.store.conftest import START

RETENTION = timedelta(days=90)


async def _add(engine: AsyncEngine, account_id: str, outcome: str, *, age: timedelta) -> str:
    reminder_id = str(uuid.uuid4())
    decided_at = START - age
    async with engine.begin() as connection:
        await connection.execute(
            insert(ReminderRow).values(
                reminder_id=reminder_id,
                account_id=account_id,
                conversation_key=f"conv-{reminder_id[:8]}",
                wa_id="15550001",
                last_customer_message_at=decided_at - timedelta(hours=23),
                outcome=outcome,
                idempotency_key=f"key-{reminder_id}",
                text="Hi John! Following up.",
                attempts=1,
                decided_at=decided_at,
                created_at=decided_at,
            )
        )
    return reminder_id


async def _remaining(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set((await connection.scalars(select(ReminderRow.reminder_id))).all())


async def test_purge_deletes_only_old_final_records(
    store: Store, engine: AsyncEngine, account_id: str
) -> None:
    old: dict[str, str] = {}
    recent: dict[str, str] = {}
    in_flight: dict[str, str] = {}
    for outcome in STORED_OUTCOMES:
        old_id = await _add(engine, account_id, outcome, age=RETENTION + timedelta(days=30))
        (in_flight if outcome in IN_FLIGHT_OUTCOMES else old)[outcome] = old_id
        recent[outcome] = await _add(engine, account_id, outcome, age=timedelta(days=10))
    assert set(in_flight) == {"pending", "retrying", "ambiguous"}

    assert await store.retention.purge(retention=RETENTION) == len(old)

    remaining = await _remaining(engine)
    assert not remaining & set(old.values())
    # Anything in flight stays however old: it is the idempotency record of a possible send.
    assert set(in_flight.values()) <= remaining
    assert set(recent.values()) <= remaining
    assert await store.retention.purge(retention=RETENTION) == 0


async def test_the_cutoff_is_exact(store: Store, engine: AsyncEngine, account_id: str) -> None:
    older = await _add(
        engine, account_id, ReminderOutcome.SENT, age=RETENTION + timedelta(seconds=1)
    )
    at_cutoff = await _add(engine, account_id, ReminderOutcome.SENT, age=RETENTION)
    assert await store.retention.purge(retention=RETENTION) == 1
    assert await _remaining(engine) == {at_cutoff}
    assert older not in await _remaining(engine)


async def test_purge_works_through_a_backlog_in_batches(
    store: Store, engine: AsyncEngine, account_id: str
) -> None:
    old = [
        await _add(engine, account_id, ReminderOutcome.SKIPPED_DISABLED, age=timedelta(days=200))
        for _ in range(7)
    ]
    kept = await _add(engine, account_id, ReminderOutcome.AMBIGUOUS, age=timedelta(days=200))
    assert await store.retention.purge(retention=RETENTION, batch=3) == len(old)
    assert await _remaining(engine) == {kept}


async def test_purge_refuses_a_meaningless_retention(store: Store) -> None:
    with pytest.raises(ValueError, match="retention"):
        await store.retention.purge(retention=timedelta(0))
    with pytest.raises(ValueError, match="batch"):
        await store.retention.purge(retention=RETENTION, batch=0)


async def test_the_purge_reads_through_its_index(engine: AsyncEngine) -> None:
    # Without ix_reminders_decided_at (migration 0005) the daily purge scans the whole table.
    statement = oldest_final(START, batch=PURGE_BATCH)
    sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = (await connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).all()
        else:
            # A tiny table is cheaper to scan; forbid that to see whether the index serves.
            await connection.execute(text("SET enable_seqscan = off"))
            plan = (await connection.execute(text(f"EXPLAIN {sql}"))).all()
    assert "ix_reminders_decided_at" in " ".join(str(row) for row in plan), plan
