"""Revision 0004 (``api_tokens``) upgrades and downgrades on both dialects, with tokens in it."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from store.db import create_engine
from store.migrate import alembic_config, migrate


def _downgrade_to(connection: Connection, database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url, connection=connection), revision)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_api_tokens_up_down_and_up_again(empty_database_url: str) -> None:
    await migrate(empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO accounts (account_id, company_name, phone_number_id, "
                    "access_token, created_at, updated_at) "
                    "VALUES ('acme', 'Acme', '1001', 't', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO api_tokens (token_id, account_id, token_hash, created_at) "
                    "VALUES ('tok_1', 'acme', :hash, CURRENT_TIMESTAMP)"
                ),
                {"hash": "0" * 64},
            )
        async with engine.begin() as connection:
            await connection.run_sync(_downgrade_to, empty_database_url, "0003")
            assert "api_tokens" not in await connection.run_sync(_tables)
            assert await connection.scalar(text("SELECT count(*) FROM accounts")) == 1
        await migrate(empty_database_url)
        async with engine.connect() as connection:
            assert "api_tokens" in await connection.run_sync(_tables)
            assert await connection.scalar(text("SELECT count(*) FROM api_tokens")) == 0
            indexes = await connection.run_sync(
                lambda sync: {i["name"] for i in inspect(sync).get_indexes("api_tokens")}
            )
            assert "ix_api_tokens_account_id" in indexes
    finally:
        await engine.dispose()
