"""Accounts: create-or-update, the write-only access token, unique phone numbers."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from store.errors import PhoneNumberTaken
from store.repository import Store
from store.types import UTCDateTime
from tests.store.conftest import START, FakeClock


async def test_create_then_update(store: Store, clock: FakeClock) -> None:
    created, was_created = await store.accounts.upsert(
        account_id="shop_1", company_name="Shop", phone_number_id="555", access_token="secret-1"
    )
    assert was_created
    assert (created.company_name, created.access_token, created.created_at) == (
        "Shop",
        "secret-1",
        START,
    )

    clock.advance(hours=1)
    updated, was_created = await store.accounts.upsert(
        account_id="shop_1", company_name="Shop Ltd", phone_number_id="556", access_token=None
    )
    assert not was_created
    assert updated.access_token == "secret-1"  # None keeps the stored token
    assert (updated.company_name, updated.phone_number_id) == ("Shop Ltd", "556")
    assert (updated.created_at, updated.updated_at) == (START, START.replace(hour=10))

    rotated, _ = await store.accounts.upsert(
        account_id="shop_1", company_name="Shop Ltd", phone_number_id="556", access_token="secret-2"
    )
    assert rotated.access_token == "secret-2"
    assert await store.accounts.get(account_id="shop_1") == rotated
    assert await store.accounts.by_phone_number_id(phone_number_id="556") == rotated
    assert await store.accounts.by_phone_number_id(phone_number_id="555") is None
    assert await store.accounts.get(account_id="nobody") is None


async def test_create_needs_an_access_token(store: Store) -> None:
    with pytest.raises(ValueError, match="access_token"):
        await store.accounts.upsert(
            account_id="new", company_name="New", phone_number_id="1", access_token=None
        )
    assert await store.accounts.get(account_id="new") is None


async def test_phone_number_id_is_unique(store: Store, account_id: str) -> None:
    with pytest.raises(PhoneNumberTaken) as caught:
        await store.accounts.upsert(
            account_id="other", company_name="O", phone_number_id="1000001", access_token="t"
        )
    assert caught.value.owner_account_id == account_id
    await store.accounts.upsert(
        account_id="other", company_name="O", phone_number_id="2", access_token="t"
    )
    with pytest.raises(PhoneNumberTaken):
        await store.accounts.upsert(
            account_id="other", company_name="O", phone_number_id="1000001", access_token=None
        )
    # Re-saving an account with its own number is fine.
    _, created = await store.accounts.upsert(
        account_id=account_id, company_name="A", phone_number_id="1000001", access_token=None
    )
    assert not created


def _raw_account_insert(phone_number_id: str):
    return text(
        "INSERT INTO accounts (account_id, company_name, phone_number_id, access_token, "
        f"created_at, updated_at) VALUES (:id, 'c', '{phone_number_id}', 't', :at, :at)"
    ).bindparams(bindparam("at", START, type_=UTCDateTime()))


async def test_database_enforces_unique_phone_number_id(engine: AsyncEngine) -> None:
    insert = _raw_account_insert("42")
    async with engine.begin() as connection:
        await connection.execute(insert, {"id": "a"})
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert, {"id": "b"})


@pytest.mark.parametrize("bad_id", ["", "a" * 65, "has space", "dot.ted", "ünï"])
async def test_account_id_charset(store: Store, engine: AsyncEngine, bad_id: str) -> None:
    with pytest.raises(ValueError):
        await store.accounts.upsert(
            account_id=bad_id, company_name="c", phone_number_id="9", access_token="t"
        )
    # The database refuses it too, whoever writes (PostgreSQL: over-long is a DataError).
    with pytest.raises(DBAPIError):
        async with engine.begin() as connection:
            await connection.execute(_raw_account_insert("9"), {"id": bad_id})


async def test_access_token_is_not_in_repr(store: Store, account_id: str) -> None:
    account = await store.accounts.get(account_id=account_id)
    assert account is not None
    assert "token-acme" not in repr(account)
