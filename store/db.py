"""Engine and session factories for SQLite (embedded default) and PostgreSQL (production).

SQLite notes. The driver's implicit ``BEGIN`` is turned off and issued by SQLAlchemy instead, so
that a transaction that is going to write can start with ``BEGIN IMMEDIATE``: it takes the write
lock up front and waits (``busy_timeout``) for another writer, instead of failing with "database
is locked" when a deferred read transaction tries to upgrade to a write after another connection
committed. Read-only transactions keep a plain deferred ``BEGIN`` and never block writers (WAL).

Every engine hides statement parameters in its error messages (``hide_parameters``): they are
phone numbers, BSUIDs, names, emails and rendered reminders, and such a message ends up in log
lines and, through an activity's failure, in Temporal's workflow history.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

logger = logging.getLogger(__name__)
# aiosqlite logs every call at DEBUG with its arguments, statement parameters included: a
# process logging at DEBUG would print customers' numbers, names and rendered reminders.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

# Execution option that marks a connection whose next transaction will write.
WRITE_INTENT = "store_write_intent"

_SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout=5000",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)


def create_engine(
    database_url: str | URL, *, pool_size: int = 5, max_overflow: int = 10
) -> AsyncEngine:
    """An async engine for ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://`` URLs.

    Pass ``Settings.database_engine_url()``, not ``DATABASE_URL`` itself: it carries the
    password of DATABASE_PASSWORD, which no text URL could hold without escaping.
    ``pool_size`` and ``max_overflow`` bound a PostgreSQL engine's connections.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        # pre_ping: a replica restarted behind a pooler must not cost the first request an error.
        return _create_async_engine(
            url,
            pool_pre_ping=True,
            hide_parameters=True,
            pool_size=pool_size,
            max_overflow=max_overflow,
        )

    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(url, hide_parameters=True)
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (records are built after it)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _on_sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # No implicit BEGIN from the driver: _on_sqlite_begin decides how each transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        _switch_to_wal(cursor)
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    # WAL is persistent, so this only matters for the first connections to a new file. Switching
    # needs an exclusive lock that SQLite does not wait for. When it is busy, another connection
    # holds a lock: the first connection ever to take one took it with this very pragma, so the
    # file is already being converted. Waiting here is not an option (this runs on the event
    # loop), and a later connection retries anyway.
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            raise
        logger.debug("database busy; journal_mode=WAL left to the connection holding the lock")


def _on_sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(WRITE_INTENT):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")
