"""``Store.tokens``: create, list, revoke and the per-request lookup by hash (both dialects)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from store.errors import AccountNotFound
from store.repository import Store
from tests.store.conftest import START, FakeClock

HASH_A = "a" * 64
HASH_B = "b" * 64


async def test_create_find_list_revoke(store: Store, account_id: str, clock: FakeClock) -> None:
    first = await store.tokens.create(
        account_id=account_id, token_id="tok_1", token_hash=HASH_A, label="shop"
    )
    assert (first.account_id, first.label, first.created_at, first.active) == (
        account_id,
        "shop",
        START,
        True,
    )
    clock.advance(minutes=1)
    second = await store.tokens.create(account_id=account_id, token_id="tok_2", token_hash=HASH_B)

    assert await store.tokens.find_active_by_hash(token_hash=HASH_A) == first
    assert await store.tokens.find_active_by_hash(token_hash="c" * 64) is None
    assert await store.tokens.list(account_id=account_id) == [first, second]

    clock.advance(minutes=1)
    revoked = await store.tokens.revoke(account_id=account_id, token_id="tok_1")
    assert revoked is not None and revoked.revoked_at == clock.now and not revoked.active
    assert await store.tokens.find_active_by_hash(token_hash=HASH_A) is None
    assert await store.tokens.find_active_by_hash(token_hash=HASH_B) == second

    clock.advance(minutes=1)
    again = await store.tokens.revoke(account_id=account_id, token_id="tok_1")
    assert again == revoked  # the first revocation's time stays


async def test_revoke_only_within_the_account(store: Store, account_id: str) -> None:
    await store.accounts.upsert(
        account_id="other", company_name="O", phone_number_id="2002", access_token="t"
    )
    await store.tokens.create(account_id="other", token_id="tok_o", token_hash=HASH_A)
    assert await store.tokens.revoke(account_id=account_id, token_id="tok_o") is None
    assert await store.tokens.revoke(account_id=account_id, token_id="tok_none") is None
    assert await store.tokens.find_active_by_hash(token_hash=HASH_A) is not None


async def test_a_token_needs_an_account_and_a_unique_hash(store: Store, account_id: str) -> None:
    with pytest.raises(AccountNotFound):
        await store.tokens.create(account_id="nobody", token_id="tok_1", token_hash=HASH_A)
    await store.tokens.create(account_id=account_id, token_id="tok_1", token_hash=HASH_A)
    with pytest.raises(IntegrityError):
        await store.tokens.create(account_id=account_id, token_id="tok_2", token_hash=HASH_A)
