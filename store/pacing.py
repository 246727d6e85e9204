"""Send slots per business number, shared by every worker process through the database.

Meta allows each business number about 80 messages per second (docs/sending.md#pacing). A
pacer inside one worker process keeps that for the process only: N workers would send N × 80.
Here the slots live in one row per number (``send_pacing``), reserved with GCRA, the generic
cell rate algorithm: the row holds the time of the number's next free slot, and a reservation
takes ``max(next slot, now)`` and moves the row on by one interval. Slots are therefore at
least one interval apart whoever reserved them, and a worker that reserved a slot sleeps until
it (less the burst tolerance) before it sends.

- **One clock.** ``now`` is the database's clock, read in the reserving statement, so workers
  on machines whose clocks differ still space their sends on one time line. A ``now`` read
  before the row lock came free is a little early; that only lengthens the sleep, never
  brings a send before its slot.
- **Bounded waits.** A slot further than ``max_wait`` away is not taken: the row is left as
  it was and the caller is told how far the queue reaches, to come back later (an attempt may
  not outlive its activity timeout, and a slot nobody uses is capacity lost for everyone).
- **Grouped.** Concurrent reservations of one process share one short transaction
  (``store.group_commit``) of two statements, however many numbers it holds: one upsert that
  locks every number's row and reads the clock, and one update that moves each row on by the
  slots taken. Rows are locked in sorted order, so two processes' groups never deadlock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Double, case, cast, func, literal, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.pace import Pace, Slot
from store.group_commit import GroupCommit
from store.models import SendPacingRow
from store.transactions import Transactions, insert, is_postgres

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# julianday() of 1970-01-01T00:00:00Z.
_UNIX_EPOCH_JULIAN_DAY = 2440587.5


@dataclass(frozen=True)
class _Request:
    key: str
    pace: Pace


class SendPacing:
    """Reserve send slots per pacing key (a business number's account)."""

    def __init__(self, transactions: Transactions, *, clock: Clock | None = None) -> None:
        self._tx = transactions
        # None: the database's clock (production). Tests pass a clock that moves when told to.
        self._clock = clock
        self._group: GroupCommit[_Request, Slot] = GroupCommit(self._reserve_group)

    async def reserve(self, key: str, *, pace: Pace) -> Slot:
        """Reserve the next send slot of ``key`` at ``pace``, or say how far off it is."""
        return await self._group.submit(_Request(key=key, pace=pace))

    async def _reserve_group(self, requests: Sequence[_Request]) -> list[Slot]:
        """Two statements for the whole group, however many numbers it holds."""
        queues: dict[str, list[int]] = defaultdict(list)
        for index, request in enumerate(requests):
            queues[request.key].append(index)
        keys = sorted(queues)  # the lock order, the same in every process
        key_column = SendPacingRow.pacing_key
        answers: dict[int, Slot] = {}
        async with self._tx.write() as tx:
            now_sql = self._now(tx)
            statement = insert(tx, SendPacingRow).values(
                [{"pacing_key": key, "next_slot_at": 0.0, "reserved_at": now_sql} for key in keys]
            )
            # Locks each number's row (creating it the first time) and reads the clock.
            statement = statement.on_conflict_do_update(
                index_elements=[key_column],
                set_={"reserved_at": statement.excluded.reserved_at},
            ).returning(key_column, SendPacingRow.next_slot_at, SendPacingRow.reserved_at)
            rows = {
                key: (next_slot_at, now) for key, next_slot_at, now in await tx.execute(statement)
            }
            moved: dict[str, float] = {}
            for key in keys:
                next_slot_at, now = rows[key]
                slot_at = free = max(next_slot_at, now)
                for index in queues[key]:
                    answers[index] = slot = _place(requests[index].pace, slot_at, now=now)
                    if not slot.reserved:
                        break
                    slot_at += requests[index].pace.interval
                for index in queues[key]:  # after a refusal, the later ones in line wait too
                    answers.setdefault(index, Slot(wait_seconds=slot_at - now, reserved=False))
                if slot_at > free:
                    moved[key] = slot_at
            if moved:
                await tx.execute(
                    update(SendPacingRow)
                    .where(key_column.in_(moved))
                    .values(next_slot_at=case(moved, value=key_column))
                )
        return [answers[index] for index in range(len(requests))]

    def _now(self, tx: AsyncSession) -> ColumnElement[float]:
        """Seconds since the epoch, as a SQL expression of the database's clock."""
        if self._clock is not None:
            return literal((self._clock() - _EPOCH).total_seconds(), Double)
        if is_postgres(tx):
            # clock_timestamp(), not now(): the moment of the statement, not of the
            # transaction's start.
            return cast(func.extract("epoch", func.clock_timestamp()), Double)
        return (func.julianday("now") - _UNIX_EPOCH_JULIAN_DAY) * 86400.0


def _place(pace: Pace, slot_at: float, *, now: float) -> Slot:
    """The slot at ``slot_at`` for a send at ``pace``: reserved unless further than the pace's
    longest wait."""
    wait = slot_at - pace.tolerance - now
    return Slot(wait_seconds=wait, reserved=wait <= pace.max_wait)
