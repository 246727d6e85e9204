"""Status webhooks a chunk at a time (``Reminders.apply_statuses``): the records end exactly as
with one transaction per status, whatever the chunk boundaries cut; on both databases."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

import pytest

from core.vocabulary import WINDOW_CLOSED_ERROR_CODE, DeliveryStatus, ReminderOutcome
from store import reminders
from store.records import ReminderRecord
from store.reminders import StatusWebhook
from store.repository import Store
from tests.store.conftest import START, FakeClock
from tests.store_reads import reminder_by_id

T = START - timedelta(hours=23)


@dataclass(frozen=True)
class _Target:
    """One reminder of the fixture and how a status may name it."""

    reminder_id: str
    wamid: str


async def _reminders(store: Store, account_id: str, clock: FakeClock) -> list[_Target]:
    """Reminders in every state a status may find: sent with a wamid, in flight (pending,
    ambiguous) or ``unknown`` without one, and two records sharing one wamid (the newer is the
    one a status naming only the wamid finds)."""
    targets = []

    async def claim(key: str) -> str:
        clock.advance(seconds=1)
        claim = await store.reminders.claim(
            account_id=account_id,
            conversation_key=f"{account_id}-{key}",
            wa_id="15550001",
            last_customer_message_at=T,
            text="Hi!",
        )
        assert claim.acquired
        return claim.record.reminder_id

    for i in range(3):
        reminder_id = await claim(f"sent{i}")
        await store.reminders.finish(
            reminder_id=reminder_id, outcome=ReminderOutcome.SENT, message_id=f"wamid.S{i}"
        )
        targets.append(_Target(reminder_id, f"wamid.S{i}"))
    pending = await claim("pending")
    targets.append(_Target(pending, "wamid.P"))
    ambiguous = await claim("ambiguous")
    await store.reminders.mark_ambiguous(reminder_id=ambiguous, reason="HTTP 503", attempt=1)
    targets.append(_Target(ambiguous, "wamid.A"))
    unknown = await claim("unknown")
    await store.reminders.finish(reminder_id=unknown, outcome=ReminderOutcome.UNKNOWN)
    targets.append(_Target(unknown, "wamid.U"))
    for key in ("older", "newer"):
        reminder_id = await claim(key)
        await store.reminders.finish(
            reminder_id=reminder_id, outcome=ReminderOutcome.SENT, message_id="wamid.SHARED"
        )
        targets.append(_Target(reminder_id, "wamid.SHARED"))
    return targets


def _script(seed: int, count: int) -> list[tuple[int, str, str, int | None]]:
    """``count`` statuses over the fixture's reminders (by index), in a seeded random order:
    (target, how it is named, status, error code). ``-1`` names no reminder at all."""
    rng = random.Random(seed)
    script: list[tuple[int, str, str, int | None]] = []
    for _ in range(count):
        target = rng.randrange(-1, 8)
        naming = rng.choice(["callback", "wamid", "both", "stranger callback"])
        status = rng.choice(["sent", "delivered", "read", "failed", "failed"])
        code = rng.choice([WINDOW_CLOSED_ERROR_CODE, 131026]) if status == "failed" else None
        script.append((target, naming, status, code))
    return script


def _statuses(
    script: list[tuple[int, str, str, int | None]], targets: list[_Target]
) -> list[StatusWebhook]:
    statuses = []
    for minute, (index, naming, status, code) in enumerate(script):
        target = _Target("no-such-reminder", "wamid.nobody") if index < 0 else targets[index]
        statuses.append(
            StatusWebhook(
                message_id=None if naming == "callback" else target.wamid,
                reminder_id={
                    "callback": target.reminder_id,
                    "both": target.reminder_id,
                    "stranger callback": "not-ours",
                }.get(naming),
                status=DeliveryStatus(status),
                at=START + timedelta(minutes=minute),
                error_code=code,
                error_message=None if code is None else f"error {code}",
            )
        )
    return statuses


def _state(record: ReminderRecord | None) -> tuple[object, ...] | None:
    """What a status may change (not the ids, which differ between the two accounts)."""
    if record is None:
        return None
    return (
        record.outcome,
        record.delivery_status,
        record.delivery_updated_at,
        record.error_code,
        record.reason,
        record.message_id,
        record.attempts,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_chunks_end_as_one_status_at_a_time(
    store: Store,
    account_id: str,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
) -> None:
    """The same statuses, applied to two accounts' identical reminders: one transaction per
    status (the reference), and chunks of 7 (a reminder's statuses straddle the boundaries)."""
    await store.accounts.upsert(
        account_id="other",
        company_name="Other Ltd.",
        phone_number_id="1000002",
        access_token="token-other",
    )
    one_by_one = await _reminders(store, "other", clock)
    chunked = await _reminders(store, account_id, clock)
    script = _script(seed, 60)

    monkeypatch.setattr(reminders, "STATUS_CHUNK", 1)
    expected = await store.reminders.apply_statuses(
        account_id="other", statuses=_statuses(script, one_by_one)
    )
    monkeypatch.setattr(reminders, "STATUS_CHUNK", 7)
    got = await store.reminders.apply_statuses(
        account_id=account_id, statuses=_statuses(script, chunked)
    )

    assert [_state(r) for r in got] == [_state(r) for r in expected]
    for mine, theirs in zip(chunked, one_by_one, strict=True):
        assert _state(await reminder_by_id(store, mine.reminder_id)) == _state(
            await reminder_by_id(store, theirs.reminder_id)
        )
    # The script did something: some statuses found a reminder, some none.
    assert any(r is None for r in got) and sum(r is not None for r in got) > 20


async def test_a_chunk_folds_one_reminders_statuses_in_order(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    targets = await _reminders(store, account_id, clock)
    forward, backward, failing, unknown = targets[0], targets[1], targets[2], targets[5]

    def status(target: _Target, word: str, minute: int, code: int | None = None) -> StatusWebhook:
        return StatusWebhook(
            message_id=target.wamid,
            reminder_id=None,
            status=DeliveryStatus(word),
            at=START + timedelta(minutes=minute),
            error_code=code,
            error_message=None if code is None else "Re-engagement message",
        )

    results = await store.reminders.apply_statuses(
        account_id=account_id,
        statuses=[
            status(forward, "sent", 1),
            status(backward, "read", 2),
            status(forward, "delivered", 3),
            status(failing, "sent", 4),
            status(backward, "delivered", 5),
            status(forward, "read", 6),
            status(failing, "failed", 7, WINDOW_CLOSED_ERROR_CODE),
            # First named by our callback data, which stores its wamid; then by the wamid only.
            StatusWebhook(
                message_id=unknown.wamid,
                reminder_id=unknown.reminder_id,
                status=DeliveryStatus.SENT,
                at=START + timedelta(minutes=8),
            ),
            status(unknown, "delivered", 9),
        ],
    )
    assert [None if r is None else r.delivery_status for r in results] == [
        "sent",
        "read",
        "delivered",
        "sent",
        "read",
        "read",
        "failed",
        "sent",
        "delivered",
    ]
    first = await reminder_by_id(store, forward.reminder_id)
    assert first is not None
    assert (first.delivery_status, first.delivery_updated_at) == ("read", START.replace(minute=6))
    second = await reminder_by_id(store, backward.reminder_id)
    assert second is not None
    assert (second.delivery_status, second.delivery_updated_at) == ("read", START.replace(minute=2))
    third = await reminder_by_id(store, failing.reminder_id)
    assert third is not None
    assert (third.outcome, third.error_code, third.reason) == (
        ReminderOutcome.FAILED_WINDOW_CLOSED,
        WINDOW_CLOSED_ERROR_CODE,
        "Re-engagement message",
    )
    proven = await reminder_by_id(store, unknown.reminder_id)
    assert proven is not None
    assert (proven.outcome, proven.message_id, proven.delivery_status) == (
        ReminderOutcome.SENT,
        unknown.wamid,
        "delivered",
    )


async def test_the_newest_record_of_a_shared_wamid_takes_its_statuses(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    older, newer = (await _reminders(store, account_id, clock))[-2:]
    (record,) = await store.reminders.apply_statuses(
        account_id=account_id,
        statuses=[
            StatusWebhook(
                message_id="wamid.SHARED", reminder_id=None, status=DeliveryStatus.READ, at=START
            )
        ],
    )
    assert record is not None and record.reminder_id == newer.reminder_id
    untouched = await reminder_by_id(store, older.reminder_id)
    assert untouched is not None and untouched.delivery_status is None


async def test_a_chunk_under_another_account_touches_nothing(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    await store.accounts.upsert(
        account_id="other",
        company_name="Other Ltd.",
        phone_number_id="1000002",
        access_token="token-other",
    )
    targets = await _reminders(store, account_id, clock)
    before = [await reminder_by_id(store, t.reminder_id) for t in targets]
    results = await store.reminders.apply_statuses(
        account_id="other",
        statuses=[
            StatusWebhook(
                message_id=t.wamid,
                reminder_id=t.reminder_id,
                status=DeliveryStatus.FAILED,
                at=START,
                error_code=WINDOW_CLOSED_ERROR_CODE,
            )
            for t in targets
        ],
    )
    assert results == [None] * len(targets)
    assert [await reminder_by_id(store, t.reminder_id) for t in targets] == before


async def test_nothing_to_apply(store: Store, account_id: str) -> None:
    assert await store.reminders.apply_statuses(account_id=account_id, statuses=[]) == []
    with pytest.raises(ValueError):
        StatusWebhook(message_id="wamid.X", reminder_id=None, status="seen", at=START)  # type: ignore[arg-type]
