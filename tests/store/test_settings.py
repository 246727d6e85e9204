"""Session settings: defaults, database-level rules, and the change history."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from core.vocabulary import DEFAULT_MESSAGE
from store.errors import AccountNotFound
from store.repository import Store
from tests.store.conftest import START, FakeClock
from tests.store_reads import settings_history


async def test_defaults_before_anything_is_saved(store: Store, account_id: str) -> None:
    settings = await store.settings.get(account_id=account_id)
    assert settings.enabled is False
    assert settings.expiry_hours == 23
    assert settings.message == DEFAULT_MESSAGE
    assert settings.updated_at is None
    assert DEFAULT_MESSAGE == (
        "Hi {contact_firstname}! Following up on our conversation. Still interested? "
        "Let me know! 😊"
    )


async def test_unknown_account(store: Store) -> None:
    with pytest.raises(AccountNotFound):
        await store.settings.get(account_id="nobody")
    with pytest.raises(AccountNotFound):
        await store.settings.save(
            account_id="nobody",
            enabled=True,
            expiry_hours=5,
            message="Hello there!",
            changed_by="x",
        )


async def test_save_then_read_back(store: Store, account_id: str, clock: FakeClock) -> None:
    saved = await store.settings.save(
        account_id=account_id,
        enabled=True,
        expiry_hours=4,
        message="Hi {contact_firstname}, still there?",
        changed_by="alice",
    )
    assert saved.updated_at == START
    assert await store.settings.get(account_id=account_id) == saved
    clock.advance(minutes=1)
    again = await store.settings.save(
        account_id=account_id, enabled=False, expiry_hours=23, message="x" * 1000, changed_by="bob"
    )
    assert (again.enabled, again.expiry_hours, again.updated_at) == (
        False,
        23,
        START.replace(minute=1),
    )
    assert await store.settings.get(account_id=account_id) == again


async def test_history_is_appended_newest_first(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    for hours in (1, 2, 3):
        clock.advance(minutes=1)
        await store.settings.save(
            account_id=account_id,
            enabled=True,
            expiry_hours=hours,
            message=f"message number {hours}",
            changed_by=f"user{hours}",
        )
    changes = await settings_history(store, account_id)
    assert [(c.expiry_hours, c.changed_by) for c in changes] == [
        (3, "user3"),
        (2, "user2"),
        (1, "user1"),
    ]
    assert changes[0].changed_at == START.replace(minute=3)
    assert changes[0].account_id == account_id
    assert len(await settings_history(store, account_id, limit=2)) == 2
    assert await settings_history(store, "other") == []


@pytest.mark.parametrize("hours", [0, 24, -1])
async def test_database_rejects_hours_outside_1_to_23(
    store: Store, account_id: str, hours: int
) -> None:
    with pytest.raises(IntegrityError):
        await store.settings.save(
            account_id=account_id,
            enabled=True,
            expiry_hours=hours,
            message="A valid message",
            changed_by="t",
        )
    # Nothing of the failed save remains, history included.
    assert await settings_history(store, account_id) == []


@pytest.mark.parametrize("length", [9, 1001, 0])
async def test_database_rejects_message_length_outside_10_to_1000(
    store: Store, account_id: str, length: int
) -> None:
    with pytest.raises(IntegrityError):
        await store.settings.save(
            account_id=account_id,
            enabled=True,
            expiry_hours=5,
            message="m" * length,
            changed_by="t",
        )


async def test_bounds_are_inclusive(store: Store, account_id: str) -> None:
    for hours, message in ((1, "😊" * 10), (23, "é" * 1000)):
        saved = await store.settings.save(
            account_id=account_id,
            enabled=True,
            expiry_hours=hours,
            message=message,
            changed_by="t",
        )
        assert (saved.expiry_hours, saved.message) == (hours, message)


async def test_each_save_raises_the_version_and_delivery_catches_up(
    store: Store, account_id: str
) -> None:
    assert (await store.settings.get(account_id=account_id)).version == 0
    assert await store.settings.undelivered() == []
    for hours in (3, 4):
        saved = await store.settings.save(
            account_id=account_id,
            enabled=True,
            expiry_hours=hours,
            message="A valid message",
            changed_by="t",
        )
    assert (saved.version, saved.delivered_version) == (2, 0)
    assert await store.settings.undelivered() == [(account_id, 2)]
    await store.settings.mark_delivered(account_id=account_id, version=1)
    assert await store.settings.undelivered() == [(account_id, 2)]
    await store.settings.mark_delivered(account_id=account_id, version=2)
    assert await store.settings.undelivered() == []
    # A late "delivered" of an older version never moves it back.
    await store.settings.mark_delivered(account_id=account_id, version=1)
    current = await store.settings.get(account_id=account_id)
    assert (current.version, current.delivered_version) == (2, 2)
