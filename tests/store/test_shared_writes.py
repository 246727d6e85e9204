"""Writes that share a transaction (``Transactions.shared``, the group commit of the send
activity's claims and finishes): fewer transactions, each job as if alone, a failing job fails
alone. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store.models import AccountRow
from store.transactions import Transactions
from tests.store.conftest import FakeClock


@pytest.fixture
def transactions(engine: AsyncEngine, clock: FakeClock) -> Transactions:
    return Transactions(async_sessionmaker(engine, expire_on_commit=False), clock=clock)


async def company(tx: AsyncSession, account_id: str, keep: list[object] | None = None) -> str:
    row = await tx.scalar(select(AccountRow).where(AccountRow.account_id == account_id))
    assert row is not None
    if keep is not None:
        keep.append(row)  # alive, so the session's identity map still holds it
    return row.company_name


async def test_jobs_queued_behind_a_write_share_the_next_transaction(
    transactions: Transactions, engine: AsyncEngine, account_id: str
) -> None:
    commits = 0

    def count(_connection: object) -> None:
        nonlocal commits
        commits += 1

    held = asyncio.Event()
    release = asyncio.Event()
    loaded: list[object] = []

    async def first(tx: AsyncSession) -> str:
        held.set()
        await release.wait()
        return await company(tx, account_id, loaded)

    def renamer(name: str) -> Callable[[AsyncSession], Awaitable[str]]:
        async def job(tx: AsyncSession) -> str:
            # Not through the ORM: a later job must see the row as the database has it.
            await tx.execute(
                text("UPDATE accounts SET company_name = :name WHERE account_id = :id"),
                {"name": name, "id": account_id},
            )
            return await company(tx, account_id, loaded)

        return job

    event.listen(engine.sync_engine, "commit", count)
    try:
        leader = asyncio.create_task(transactions.shared(first))
        await held.wait()
        group = [asyncio.create_task(transactions.shared(renamer(f"Acme {i}"))) for i in range(5)]
        await asyncio.sleep(0.05)
        release.set()
        assert await leader == "Acme Inc."
        # Each job reads what the one before it wrote, not the object an earlier job loaded.
        assert await asyncio.gather(*group) == [f"Acme {i}" for i in range(5)]
    finally:
        event.remove(engine.sync_engine, "commit", count)
    assert commits == 2
    async with transactions.read() as tx:
        assert await company(tx, account_id) == "Acme 4"


async def test_a_failing_job_fails_alone_and_the_others_are_kept(
    transactions: Transactions, account_id: str
) -> None:
    held = asyncio.Event()
    release = asyncio.Event()

    async def first(tx: AsyncSession) -> None:
        held.set()
        await release.wait()

    async def good(tx: AsyncSession) -> str:
        await tx.execute(
            text("UPDATE accounts SET company_name = 'Kept' WHERE account_id = :id"),
            {"id": account_id},
        )
        return "ok"

    async def bad(tx: AsyncSession) -> str:
        await tx.execute(
            text("UPDATE accounts SET company_name = 'Lost' WHERE account_id = :id"),
            {"id": account_id},
        )
        raise LookupError("this job's own failure")

    leader = asyncio.create_task(transactions.shared(first))
    await held.wait()
    jobs = [
        asyncio.create_task(transactions.shared(bad)),
        asyncio.create_task(transactions.shared(good)),
    ]
    await asyncio.sleep(0.05)
    release.set()
    await leader
    failed, kept = await asyncio.gather(*jobs, return_exceptions=True)
    assert isinstance(failed, LookupError)
    assert kept == "ok"
    async with transactions.read() as tx:
        assert await company(tx, account_id) == "Kept"
