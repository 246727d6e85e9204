"""Apply the Alembic migrations programmatically: ``await migrate(database_url)``.

The API and the worker call this at start-up, so a deployment never runs against an old schema.
Two processes starting together are safe: on PostgreSQL the upgrade runs inside one transaction
holding a transaction-scoped advisory lock, so the second process waits and then finds the schema
at head; on SQLite the transaction starts with ``BEGIN IMMEDIATE``, which serialises the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from store.db import WRITE_INTENT, create_engine

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Arbitrary but fixed 64-bit key of the PostgreSQL advisory lock ("wa-sessions-migrate").
_ADVISORY_LOCK_KEY = 0x7761_7365_7373_6D67


def alembic_config(database_url: str | URL, *, connection: Connection | None = None) -> Config:
    """An Alembic config for this package's migrations, independent of the working directory.

    ``env.py`` reads the URL (and an already open connection, if given) from ``attributes``,
    where a ``URL`` object stays one: its password is never rendered into text;
    ``configure_logging`` is off because the host process owns logging.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def migrate(database_url: str | URL) -> None:
    """Bring the database at ``database_url`` to the newest schema revision."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(**{WRITE_INTENT: True})
            async with connection.begin():
                if connection.dialect.name == "postgresql":
                    await connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
                    )
                await connection.run_sync(_upgrade, database_url)
    finally:
        await engine.dispose()
    logger.info("database schema is at head")


def _upgrade(connection: Connection, database_url: str | URL) -> None:
    command.upgrade(alembic_config(database_url, connection=connection), "head")
