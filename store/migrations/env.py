"""Alembic environment for the store schema (async engines, SQLite and PostgreSQL).

The database URL comes from the caller — ``config.attributes["database_url"]`` (``store.migrate``)
or ``-x database_url=...`` on the command line — and falls back to ``DATABASE_URL`` (with
DATABASE_PASSWORD in place of its password) through ``core.config.get_settings()``. When
``store.migrate`` passes an open connection in ``config.attributes["connection"]`` the
migrations run on it, inside the caller's transaction (which holds the start-up lock).
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import URL, Connection, make_url

from core.config import get_settings
from store.db import WRITE_INTENT, create_engine
from store.models import Base
from store.types import UTCDateTime

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name)


def _database_url() -> str | URL:
    # A URL object is passed on as it is: str() of it would mask its password as "***".
    url = config.attributes.get("database_url") or context.get_x_argument(as_dictionary=True).get(
        "database_url"
    )
    if isinstance(url, URL):
        return url
    return str(url) if url else get_settings().database_engine_url()


def _render_item(type_: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    # Revisions must not import application types: render the aware column as what it is.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=make_url(_database_url()).get_backend_name() == "sqlite",
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Emit the SQL instead of running it (``alembic upgrade head --sql``)."""
    _configure(url=_database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_database_url())
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(**{WRITE_INTENT: True})
            await connection.run_sync(_run_on)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
