"""The worker purges the reminder audit trail past AUDIT_RETENTION_DAYS, daily and at start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

import worker
from core.config import Settings


class FakeRetention:
    """Records each purge; fails the first ``failures`` times; sets ``done`` after ``rounds``."""

    def __init__(self, *, rounds: int, failures: int = 0) -> None:
        self.calls: list[timedelta] = []
        self.failures = failures
        self.rounds = rounds
        self.done = asyncio.Event()

    async def purge(self, *, retention: timedelta) -> int:
        self.calls.append(retention)
        if len(self.calls) >= self.rounds:
            self.done.set()
        if len(self.calls) <= self.failures:
            raise ConnectionError("database unavailable")
        return 3


def _resources(retention: FakeRetention) -> Any:
    return SimpleNamespace(store=SimpleNamespace(retention=retention), temporal=None)


async def test_the_loop_purges_at_start_and_every_interval() -> None:
    retention = FakeRetention(rounds=3, failures=1)
    stop = asyncio.Event()
    loop = asyncio.create_task(
        worker.purge_audit_forever(
            _resources(retention), retention_days=30, interval=0.01, stop=stop
        )
    )
    await asyncio.wait_for(retention.done.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(loop, timeout=5)
    # A failed round (the database down) is retried next time; the loop keeps going.
    assert retention.calls[:3] == [timedelta(days=30)] * 3


async def test_the_loop_stops_promptly() -> None:
    retention = FakeRetention(rounds=1)
    stop = asyncio.Event()
    loop = asyncio.create_task(
        worker.purge_audit_forever(
            _resources(retention),
            retention_days=90,
            interval=worker.AUDIT_PURGE_INTERVAL_SECONDS,
            stop=stop,
        )
    )
    await asyncio.wait_for(retention.done.wait(), timeout=5)
    stop.set()  # a day's wait ends at once
    await asyncio.wait_for(loop, timeout=5)
    assert retention.calls == [timedelta(days=90)]


@pytest.mark.parametrize(("days", "purged"), [(90, True), (0, False)])
async def test_the_worker_runs_the_purge_unless_retention_is_forever(
    monkeypatch: pytest.MonkeyPatch, days: int, purged: bool
) -> None:
    retention = FakeRetention(rounds=1)
    reconciled = asyncio.Event()

    @asynccontextmanager
    async def open_resources(settings: Settings, **_: object) -> AsyncIterator[Any]:
        yield _resources(retention)

    class IdleWorker:
        async def __aenter__(self) -> IdleWorker:
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

    async def reconcile_forever(*_: object, stop: asyncio.Event, **__: object) -> None:
        reconciled.set()
        await stop.wait()

    monkeypatch.setattr(worker, "open_resources", open_resources)
    monkeypatch.setattr(worker, "build_activities", lambda *_: None)
    monkeypatch.setattr(worker, "SettingsActivities", lambda **_: None)
    monkeypatch.setattr(worker, "build_worker", lambda *_, **__: IdleWorker())
    monkeypatch.setattr(worker, "reconcile_forever", reconcile_forever)

    stop = asyncio.Event()
    settings = Settings(_env_file=None, environment="test", audit_retention_days=days)
    running = asyncio.create_task(worker.run(settings, stop=stop))
    await asyncio.wait_for(reconciled.wait(), timeout=5)
    if purged:
        await asyncio.wait_for(retention.done.wait(), timeout=5)
    else:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, timeout=5)
    assert retention.calls == ([timedelta(days=days)] if purged else [])
