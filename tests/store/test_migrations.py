"""The Alembic migrations build exactly the ORM schema, on both dialects, and run safely twice and
concurrently; the engine factory sets up SQLite as promised."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from store.db import create_engine
from store.migrate import alembic_config, migrate
from store.models import Base
from store.repository import Store


def _head(database_url: str) -> str:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert head is not None
    return head


def _diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _check_constraint_names(connection: Connection) -> dict[str, set[str]]:
    inspector = inspect(connection)
    return {
        table: {str(check["name"]) for check in inspector.get_check_constraints(table)}
        for table in Base.metadata.tables
    }


async def test_migrated_schema_matches_the_orm_metadata(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_diffs) == []


async def test_check_constraints_match_the_orm_metadata(engine: AsyncEngine) -> None:
    # compare_metadata ignores CHECK constraints; their names at least must agree.
    expected = {
        table.name: {
            str(constraint.name)
            for constraint in table.constraints
            if isinstance(constraint, CheckConstraint)
        }
        for table in Base.metadata.sorted_tables
    }
    async with engine.connect() as connection:
        assert await connection.run_sync(_check_constraint_names) == expected


async def test_migrate_twice_is_a_no_op(engine: AsyncEngine, empty_database_url: str) -> None:
    await migrate(empty_database_url)
    async with engine.connect() as connection:
        version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    assert version == _head(empty_database_url)


async def test_concurrent_start_ups_both_succeed(empty_database_url: str) -> None:
    await asyncio.gather(*(migrate(empty_database_url) for _ in range(3)))
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diffs) == []
    finally:
        await engine.dispose()


async def test_ping(store: Store) -> None:
    await store.ping()  # raises when the database does not answer
    assert await store.accounts.get(account_id="nobody") is None


async def test_sqlite_engine_pragmas(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as connection:
        pragmas = {
            name: await connection.scalar(text(f"PRAGMA {name}"))
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    # synchronous=NORMAL is 1.
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 5000,
    }
