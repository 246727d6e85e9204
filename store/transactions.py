"""Plumbing the store's aggregates share: short transactions, dialect-specific SQL, records.

Every data-access method opens one short transaction through ``Transactions`` and returns
frozen records (``store.records``), never ORM objects, so callers cannot lazy-load or mutate
rows by accident. In the store, ``tx`` is an SQLAlchemy ``AsyncSession`` inside its
transaction; the word "session" is kept for the product's sessions.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, utc_now
from store.db import WRITE_INTENT
from store.group_commit import GroupCommit

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")
SelectT = TypeVar("SelectT", bound=Select[Any])
T = TypeVar("T")
# A unit of work that may share its write transaction with others (``Transactions.shared``).
Job = Callable[[AsyncSession], Awaitable[Any]]


class Transactions:
    """Opens the store's transactions and stamps them with the store's clock."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, clock: Clock = utc_now
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        # SQLite has one writer at a time, and its waiters poll (busy_timeout) instead of
        # queueing: under a burst, a writer can lose every poll for seconds and fail with
        # "database is locked". One in-process queue makes this process's writers take turns
        # in order, so SQLite sees at most one waiter per process. PostgreSQL locks rows and
        # needs none of this.
        bind = sessionmaker.kw.get("bind")
        is_sqlite = bind is not None and bind.dialect.name == "sqlite"
        self._writers: asyncio.Lock | None = asyncio.Lock() if is_sqlite else None
        self._shared: GroupCommit[Job, Any] = GroupCommit(self._run_together)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction (SQLite: a deferred BEGIN that never blocks writers)."""
        async with self._sessionmaker() as tx, tx.begin():
            yield tx

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that will write (SQLite: BEGIN IMMEDIATE, see ``store.db``, after this
        process's earlier writers)."""
        async with self._turn(), self._sessionmaker() as tx, tx.begin():
            # Procure the connection now, flagged, so SQLite starts with BEGIN IMMEDIATE.
            await tx.connection(execution_options={WRITE_INTENT: True})
            yield tx

    async def shared(self, job: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``job`` in a write transaction it may share with concurrent callers' jobs.

        A group commit (``store.group_commit``): the jobs that queue while a write is under
        way run one after another in the next transaction, which then costs one BEGIN, one
        COMMIT and one connection for all of them (a burst of reminders is hundreds of short
        writes). A job that raises rolls its group back, and every job of that group is then
        run again in a transaction of its own, so it fails alone. A job must therefore be
        safe to run twice, and may not depend on another job of its group.
        """
        return cast(T, await self._shared.submit(job))

    async def _run_together(self, jobs: Sequence[Job]) -> list[Any]:
        answers: list[Any] = []
        async with self.write() as tx:
            for job in jobs:
                answers.append(await job(tx))
                # Each job sees the database as the jobs before it left it, never their loaded
                # objects: the ORM would otherwise hand a later job a row as an earlier job
                # read it (the identity map), not as it now is.
                await tx.flush()
                tx.expunge_all()
        return answers

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._writers is None:
            yield
            return
        async with self._writers:
            yield

    def now(self, at: datetime | None = None) -> datetime:
        """``at`` if given (callers stamp decisions with their own clock), else the clock's now."""
        now = at or self._clock()
        if now.tzinfo is None:
            raise ValueError("the store clock must return aware datetimes")
        return now.astimezone(UTC)


def is_postgres(tx: AsyncSession) -> bool:
    return tx.get_bind().dialect.name == "postgresql"


def insert(tx: AsyncSession, row: type[Any]) -> Any:
    """The dialect's INSERT, which offers ``on_conflict_do_nothing`` / ``_do_update``."""
    # Both dialect inserts take the same keywords; typed Any because SQLAlchemy has no common
    # protocol for them.
    return postgresql.insert(row) if is_postgres(tx) else sqlite.insert(row)


def locked(tx: AsyncSession, statement: SelectT) -> SelectT:
    """``statement`` locking the rows it reads until the transaction ends."""
    # SQLite has no row locks; its writers are already serialised by BEGIN IMMEDIATE.
    return statement.with_for_update() if is_postgres(tx) else statement


def to_record(kind: type[R], row: object) -> R:
    """The frozen record of a row: records name their fields after the ORM columns."""
    return kind(**{field.name: getattr(row, field.name) for field in dataclasses.fields(kind)})
