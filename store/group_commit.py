"""Group commit: concurrent callers' rows written by one transaction instead of one each.

Under load the API inserts a new contact for many webhooks at the same moment, and on SQLite
every write transaction waits its turn behind the one before (``store.transactions``). Each
transaction also costs the same fixed work however little it writes: a connection from the pool,
``BEGIN IMMEDIATE``, the statement's compilation, ``COMMIT``, and a thread hand-off through
aiosqlite for each of them. ``GroupCommit`` lets the callers that arrive while a transaction is
under way share the next one, the way databases group commits to their log:

- alone, a caller's item is written at once, in a transaction of its own (no added latency);
- while a write is in flight, new items queue, and all of them go in the next transaction.

Every caller gets its own item's answer. When a group's transaction fails, each of its items is
written alone, so that one bad item fails only its own caller (whose request is then answered
5xx and retried by its sender, as it would have been without the group).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupWriteInterrupted(Exception):
    """The caller writing this item's group was cancelled mid-write: whether it went in is not
    known (a retry of the whole request is always safe)."""


class GroupCommit(Generic[T, R]):
    """Runs ``write`` on the items of concurrent ``submit`` calls, a group at a time.

    ``write`` gets the group's items in arrival order and returns one answer per item, in the
    same order. Callers take turns in arrival order (``asyncio.Lock`` is fair); the one whose
    turn it is writes everything queued by then, its own item included, and a caller whose item
    an earlier turn wrote just takes its answer. So no caller writes more than one group, and
    nothing runs in the background.
    """

    def __init__(self, write: Callable[[Sequence[T]], Awaitable[Sequence[R]]]) -> None:
        self._write = write
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._turn = asyncio.Lock()

    async def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is queued; its answer."""
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        entry = (item, answer)
        self._queue.append(entry)
        try:
            async with self._turn:
                if not answer.done():
                    group, self._queue = self._queue, []
                    await self._write_group(group)
        except asyncio.CancelledError:
            if entry in self._queue:
                self._queue.remove(entry)  # not written yet: nobody writes it now
            elif answer.done() and not answer.cancelled():
                answer.exception()  # read, so that asyncio does not report it as lost
            raise
        return answer.result()

    async def _write_group(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        """Write the group and answer each of its callers (a failure is each one's answer)."""
        try:
            answers = await self._write([item for item, _ in group])
            if len(answers) != len(group):
                raise RuntimeError(f"a group write answered {len(answers)} of {len(group)} items")
        except Exception as err:
            if len(group) == 1:
                group[0][1].set_exception(err)
                return
            # One bad item (say, a contact of an account deleted meanwhile) must not fail the
            # others of its group, again at every retry: each is written alone instead.
            for done, entry in enumerate(group):
                try:
                    await self._write_group([entry])
                except BaseException:
                    for _, answer in group[done + 1 :]:
                        answer.set_exception(GroupWriteInterrupted())
                    raise
            return
        except BaseException:
            # The writing caller was cancelled mid-write: the others cannot know whether their
            # rows went in. They fail, and their senders retry, which every write here allows.
            for _, answer in group:
                answer.set_exception(GroupWriteInterrupted())
            raise
        for (_, answer), value in zip(group, answers, strict=True):
            answer.set_result(value)
