"""Group commit (``store.group_commit``): concurrent items share a write, each caller gets its
own answer, one bad item fails only its caller, and cancelled callers leave nothing hanging."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from store.group_commit import GroupCommit, GroupWriteInterrupted


class Writer:
    """A write that records its groups and can be held open, like a transaction in flight."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.started = asyncio.Event()
        self.holds: dict[str, asyncio.Event] = {}  # a group with this item waits for its event
        self.holds_alone: dict[str, asyncio.Event] = {}  # the same, for this item written alone

    async def __call__(self, items: Sequence[str]) -> list[str]:
        self.groups.append(list(items))
        self.started.set()
        await self.release.wait()
        for item in items:
            if item in self.holds:
                await self.holds[item].wait()
        if len(items) == 1 and items[0] in self.holds_alone:
            await self.holds_alone[items[0]].wait()
        if "bad" in items:
            raise ValueError("a bad item")
        return [item.upper() for item in items]


async def queued_behind_a_write(
    *items: str,
) -> tuple[Writer, GroupCommit[str, str], asyncio.Task[str], list[asyncio.Task[str]]]:
    """A write of "a" held open, and ``items`` submitted meanwhile (all queued behind it)."""
    writer = Writer()
    writer.release.clear()
    group = GroupCommit(writer)
    first = asyncio.create_task(group.submit("a"))
    await writer.started.wait()
    rest = [asyncio.create_task(group.submit(item)) for item in items]
    await asyncio.sleep(0.01)
    return writer, group, first, rest


async def test_a_lone_item_is_written_at_once_in_its_own_group() -> None:
    writer = Writer()
    group = GroupCommit(writer)
    assert await group.submit("a") == "A"
    assert await group.submit("b") == "B"
    assert writer.groups == [["a"], ["b"]]


async def test_items_arriving_during_a_write_share_the_next_one() -> None:
    writer, _, first, rest = await queued_behind_a_write("b", "c", "d")
    writer.release.set()
    assert await first == "A"
    assert await asyncio.gather(*rest) == ["B", "C", "D"]
    assert writer.groups == [["a"], ["b", "c", "d"]]


async def test_a_bad_item_fails_only_its_own_caller() -> None:
    writer, _, first, rest = await queued_behind_a_write("b", "bad", "c")
    writer.release.set()
    await first
    results = await asyncio.gather(*rest, return_exceptions=True)
    assert results[0] == "B" and results[2] == "C"
    assert isinstance(results[1], ValueError)
    # The group failed as a whole, then each of its items was written alone.
    assert writer.groups == [["a"], ["b", "bad", "c"], ["b"], ["bad"], ["c"]]


async def test_a_caller_cancelled_before_its_turn_is_not_written() -> None:
    writer, _, first, (gone, kept) = await queued_behind_a_write("gone", "kept")
    gone.cancel()
    await asyncio.sleep(0.01)
    writer.release.set()
    assert await first == "A"
    assert await kept == "KEPT"
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert writer.groups == [["a"], ["kept"]]


async def test_the_writer_cancelled_mid_write_fails_its_group_without_hanging() -> None:
    writer, group, blocker, (leader, follower) = await queued_behind_a_write("b", "c")
    writer.holds["b"] = asyncio.Event()
    writer.release.set()
    await blocker
    await asyncio.sleep(0.01)  # "b" now writes the group ["b", "c"], held open
    assert writer.groups[-1] == ["b", "c"]
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    with pytest.raises(GroupWriteInterrupted):
        await asyncio.wait_for(follower, timeout=5)
    # The next caller is not blocked by what happened.
    writer.release.set()
    assert await group.submit("d") == "D"
    assert writer.groups == [["a"], ["b", "c"], ["d"]]


async def test_the_writer_cancelled_while_writing_items_alone_leaves_none_hanging() -> None:
    writer, group, blocker, (leader, bad, late) = await queued_behind_a_write("b", "bad", "c")
    writer.holds_alone["b"] = asyncio.Event()
    writer.release.set()
    await blocker
    await asyncio.sleep(0.01)  # the group failed on "bad"; "b" alone is now held open
    assert writer.groups[-2:] == [["b", "bad", "c"], ["b"]]
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    for task in (bad, late):
        with pytest.raises(GroupWriteInterrupted):
            await asyncio.wait_for(task, timeout=5)
