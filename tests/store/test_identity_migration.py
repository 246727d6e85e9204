"""Revision 0003 on a database the previous schema filled: contacts keep their conversation
keys (so running sessions keep their workflow ids), and a downgrade round trip works."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from store.db import create_engine
from store.migrate import alembic_config, migrate


def _upgrade_to(connection: Connection, database_url: str, revision: str) -> None:
    config = alembic_config(database_url, connection=connection)
    command.upgrade(config, revision)


def _downgrade_to(connection: Connection, database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url, connection=connection), revision)


async def _at(engine: AsyncEngine, database_url: str, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_to, database_url, revision)


async def test_contacts_keep_their_keys_through_the_upgrade(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        await _at(engine, empty_database_url, "0002")
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
                    "INSERT INTO contacts (account_id, wa_id, conversation_key, profile_name, "
                    "created_at, updated_at) "
                    "VALUES ('acme', '15550001111', 'key-before', 'Ana', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"
                )
            )
        await migrate(empty_database_url)  # to head
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    text(
                        "SELECT conversation_key, wa_id, user_id, profile_name FROM contacts "
                        "WHERE account_id = 'acme'"
                    )
                )
            ).one()
        assert tuple(row) == ("key-before", "15550001111", None, "Ana")
    finally:
        await engine.dispose()


async def test_the_downgrade_round_trip(empty_database_url: str) -> None:
    await migrate(empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_downgrade_to, empty_database_url, "0002")
        await migrate(empty_database_url)
        async with engine.connect() as connection:
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        # Back at head (0003 when this was written; later revisions upgrade too).
        assert (
            version
            == ScriptDirectory.from_config(alembic_config(empty_database_url)).get_current_head()
        )
    finally:
        await engine.dispose()
