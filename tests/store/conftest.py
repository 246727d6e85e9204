"""Fixtures for the store tests: every test runs on SQLite (a temporary file) and on PostgreSQL.

PostgreSQL: one uniquely named database per test session (so other suites using the ``test``
database are untouched), a fresh ``public`` schema per test, and the schema always built by the
real Alembic migrations through ``store.migrate.migrate``. When the server is unreachable the
PostgreSQL parameters are skipped, unless ``CI`` is set: then they fail.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.repository import Store
from tests.support import postgres_test_database

POSTGRES_URL = os.environ.get(
    "STORE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to, so that ordering by time is deterministic."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
async def postgres_database() -> AsyncIterator[str]:
    """URL of a PostgreSQL database created for this test session and dropped after it."""
    async with postgres_test_database(POSTGRES_URL, prefix="store_test") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        # A directory that does not exist yet: create_engine must make it.
        directory = tmp_path_factory.mktemp("store") / "data"
        return f"sqlite+aiosqlite:///{directory}/store.db"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
async def empty_database_url(database_url: str) -> str:
    """``database_url`` with no tables at all (PostgreSQL: a brand-new ``public`` schema)."""
    if database_url.startswith("postgresql"):
        engine = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.exec_driver_sql("DROP SCHEMA public CASCADE")
                await connection.exec_driver_sql("CREATE SCHEMA public")
        finally:
            await engine.dispose()
    return database_url


@pytest.fixture
async def engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate(empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(engine: AsyncEngine, clock: FakeClock) -> Store:
    return Store(create_sessionmaker(engine), clock=clock)


@pytest.fixture
async def account_id(store: Store) -> str:
    account, _ = await store.accounts.upsert(
        account_id="acme",
        company_name="Acme Inc.",
        phone_number_id="1000001",
        access_token="token-acme",
    )
    return account.account_id
