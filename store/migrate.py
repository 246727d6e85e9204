"""Apply the Alembic migrations programmatically: ``await migrate(database_url)``.

The API and the worker call this at start-up (``MIGRATE_ON_START``, the default), so a
deployment never runs against an old schema. With ``MIGRATE_ON_START=false`` they call
``check_at_head`` instead and refuse to start on an old schema, and the migrations run as a step
of their own: ``python -m store.migrate`` (the Kubernetes Job, docs/operating.md#kubernetes).
Two processes starting together are safe: on PostgreSQL the upgrade runs inside one transaction
holding a transaction-scoped advisory lock, so the second process waits and then finds the schema
at head; on SQLite the transaction starts with ``BEGIN IMMEDIATE``, which serialises the same way.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from core.config import Settings
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


class SchemaNotAtHeadError(RuntimeError):
    """The database's schema revision is not the newest one this code knows."""


def head_revision() -> str:
    """The newest revision of this package's migrations."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        raise RuntimeError(f"no migrations in {MIGRATIONS_DIR}")
    return head


async def current_revision(database_url: str | URL) -> str | None:
    """The revision the database at ``database_url`` is at; None before the first migration."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current_revision)
    finally:
        await engine.dispose()


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def check_at_head(database_url: str | URL) -> None:
    """Raise ``SchemaNotAtHeadError`` unless the database's schema is at the newest revision
    this code knows, or at a newer one.

    What a process started with ``MIGRATE_ON_START=false`` does instead of migrating: it never
    changes the schema, and never serves one older than it was written for. A revision it does
    not know is a newer release's, during a rolling deploy: migrations only add, so an old
    process keeps working on it (docs/upgrading.md#database-migrations-across-a-deploy), and one
    that restarts then must not be refused.
    """
    current, head = await current_revision(database_url), head_revision()
    if current == head:
        logger.info("database schema is at head %s", head)
        return
    if current is not None and not _known(current):
        logger.warning(
            "database schema is at revision %s, newer than this release's %s (a rolling "
            "deploy); serving on it",
            current,
            head,
        )
        return
    raise SchemaNotAtHeadError(
        f"database schema is at revision {current or 'none (empty database)'}, this release "
        f"needs {head}; run the migrations first (python -m store.migrate, "
        "docs/operating.md#database-migrations) or set MIGRATE_ON_START=true"
    )


def _known(revision: str) -> bool:
    """Whether ``revision`` is one of this package's migrations."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def main() -> int:
    """``python -m store.migrate``: migrate DATABASE_URL (with DATABASE_PASSWORD) to head."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    asyncio.run(migrate(Settings().database_engine_url()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
