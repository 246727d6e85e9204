"""Writers under contention: SQLite's single writer lock never turns a burst into errors.

SQLite's waiters poll for the lock (``busy_timeout``) instead of queueing, so without
``store.transactions``' in-process queue a writer could lose every poll and fail with "database
is locked" after five seconds, and a burst of new customers would answer 503s.
"""

from __future__ import annotations

import asyncio

import pytest

from core.identity import CustomerIdentity
from store.repository import Store
from tests.support import store_sender


async def test_a_writer_waits_its_turn_longer_than_sqlites_busy_timeout(
    store: Store, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL writers lock rows, not the database")
    await store.accounts.upsert(
        account_id="w", company_name="W", phone_number_id="w-1", access_token="t"
    )
    transactions = store._transactions
    second_done = asyncio.Event()

    async def second_writer() -> None:
        await store_sender(store, account_id="w", wa_id="15550000002", conversation_key="k2")
        second_done.set()

    async with transactions.write():
        waiting = asyncio.create_task(second_writer())
        # Longer than busy_timeout (5 s): SQLite alone would give up and raise.
        await asyncio.sleep(5.5)
        assert not second_done.is_set()
    await asyncio.wait_for(waiting, timeout=10)
    found = await store.contacts.find(
        account_id="w", identity=CustomerIdentity(wa_id="15550000002")
    )
    assert found is not None and found.conversation_key == "k2"


async def test_a_burst_of_new_customers_is_stored_whole(store: Store) -> None:
    await store.accounts.upsert(
        account_id="b", company_name="B", phone_number_id="b-1", access_token="t"
    )
    count = 300  # far more concurrent writers than the pool has connections
    await asyncio.gather(
        *(
            store_sender(
                store, account_id="b", wa_id=str(15_550_000_000 + i), conversation_key=f"k{i}"
            )
            for i in range(count)
        )
    )
    keys = await store.contacts.by_keys(
        account_id="b", conversation_keys=[f"k{i}" for i in range(count)]
    )
    assert len(keys) == count
