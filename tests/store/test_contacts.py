"""Contacts: webhook profile-name upserts never clobber the merge-field data set through the API."""

from __future__ import annotations

import asyncio

import pytest

from store.errors import AccountNotFound
from store.records import Contact
from store.repository import Store
from tests.store.conftest import START, FakeClock


async def test_profile_name_creates_then_refreshes(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    await store.contacts.ensure_sender(
        account_id=account_id, wa_id="15550001", conversation_key="k1", profile_name="Johnny"
    )
    contact = await store.contacts.get(account_id=account_id, wa_id="15550001")
    assert contact is not None
    assert (contact.profile_name, contact.first_name, contact.conversation_key) == (
        "Johnny",
        None,
        "k1",
    )
    assert contact.created_at == contact.updated_at == START

    clock.advance(minutes=5)
    await store.contacts.ensure_sender(
        account_id=account_id, wa_id="15550001", conversation_key="k1", profile_name=None
    )
    unchanged = await store.contacts.get(account_id=account_id, wa_id="15550001")
    assert unchanged == contact  # None never erases, and does not even touch updated_at

    await store.contacts.ensure_sender(
        account_id=account_id, wa_id="15550001", conversation_key="k1", profile_name="John S."
    )
    renamed = await store.contacts.get(account_id=account_id, wa_id="15550001")
    assert renamed is not None
    assert renamed.profile_name == "John S."
    assert renamed.updated_at == START.replace(minute=5)


async def test_profile_name_does_not_clobber_first_and_last_name(
    store: Store, account_id: str
) -> None:
    contact, created = await store.contacts.upsert(
        account_id=account_id,
        wa_id="15550002",
        conversation_key="k2",
        first_name="John",
        last_name="Smith",
        email="john@example.com",
    )
    assert created
    await store.contacts.ensure_sender(
        account_id=account_id, wa_id="15550002", conversation_key="k2", profile_name="Jo"
    )
    after = await store.contacts.get(account_id=account_id, wa_id="15550002")
    assert after is not None
    assert (after.first_name, after.last_name, after.email, after.profile_name) == (
        "John",
        "Smith",
        "john@example.com",
        "Jo",
    )

    # And the API's PUT keeps the profile name.
    updated, created = await store.contacts.upsert(
        account_id=account_id,
        wa_id="15550002",
        conversation_key="k2",
        first_name="Jonathan",
        last_name=None,
        email=None,
    )
    assert not created
    assert (updated.first_name, updated.last_name, updated.email, updated.profile_name) == (
        "Jonathan",
        None,
        None,
        "Jo",
    )
    assert updated.created_at == contact.created_at


async def test_upsert_contact_needs_an_account(store: Store) -> None:
    with pytest.raises(AccountNotFound):
        await store.contacts.upsert(
            account_id="nobody",
            wa_id="1",
            conversation_key="k",
            first_name=None,
            last_name=None,
            email=None,
        )


async def test_concurrent_profile_names_for_one_customer(store: Store, account_id: str) -> None:
    await asyncio.gather(
        *(
            store.contacts.ensure_sender(
                account_id=account_id,
                wa_id="15550003",
                conversation_key="k3",
                profile_name=f"name {i % 3}",
            )
            for i in range(12)
        )
    )
    contact = await store.contacts.get(account_id=account_id, wa_id="15550003")
    assert contact is not None
    assert contact.profile_name in {"name 0", "name 1", "name 2"}


async def test_lookups_by_conversation_key(store: Store, account_id: str) -> None:
    for n in range(3):
        await store.contacts.ensure_sender(
            account_id=account_id,
            wa_id=f"1555000{n}",
            conversation_key=f"key{n}",
            profile_name=None,
        )

    async def by_key(account: str, key: str) -> Contact | None:
        # The send activity finds its contact by conversation key alone.
        context = await store.reminders.load_context(account_id=account, conversation_key=key)
        return context.contact

    contact = await by_key(account_id, "key1")
    assert contact is not None and contact.wa_id == "15550001"
    assert await by_key(account_id, "nope") is None
    assert await by_key("other", "key1") is None
    found = await store.contacts.by_keys(
        account_id=account_id, conversation_keys=["key0", "key2", "missing", "key2"]
    )
    assert {key: c.wa_id for key, c in found.items()} == {"key0": "15550000", "key2": "15550002"}
    assert await store.contacts.by_keys(account_id=account_id, conversation_keys=[]) == {}


async def test_concurrent_upserts_of_one_contact_create_it_once(
    store: Store, account_id: str
) -> None:
    # Read-then-write transactions racing: on SQLite this needs BEGIN IMMEDIATE, on PostgreSQL
    # the ON CONFLICT insert.
    results = await asyncio.gather(
        *(
            store.contacts.upsert(
                account_id=account_id,
                wa_id="15550009",
                conversation_key="k9",
                first_name=f"First{i}",
                last_name=None,
                email=None,
            )
            for i in range(8)
        )
    )
    assert sum(created for _, created in results) == 1


async def test_reminder_context_reads_account_contact_and_settings_together(store: Store) -> None:
    await store.accounts.upsert(
        account_id="ctx", company_name="Ctx", phone_number_id="ctx-1", access_token="t"
    )
    await store.contacts.ensure_sender(
        account_id="ctx", wa_id="15550001111", conversation_key="k-ctx", profile_name="Ana"
    )
    context = await store.reminders.load_context(account_id="ctx", conversation_key="k-ctx")
    assert context.account is not None and context.account.company_name == "Ctx"
    assert context.contact is not None and context.contact.profile_name == "Ana"
    assert context.settings is not None and context.settings.expiry_hours == 23
    missing = await store.reminders.load_context(account_id="nope", conversation_key="k-ctx")
    assert missing.account is None and missing.contact is None and missing.settings is None


async def test_profile_name_unchanged_needs_no_write(store: Store, clock: FakeClock) -> None:
    await store.accounts.upsert(
        account_id="pn", company_name="P", phone_number_id="pn-1", access_token="t"
    )
    args = {"account_id": "pn", "wa_id": "15550002222", "conversation_key": "k-pn"}
    await store.contacts.ensure_sender(**args, profile_name="Bo")
    before = await store.contacts.get(account_id="pn", wa_id="15550002222")
    clock.advance(minutes=5)  # a write now would move updated_at
    await store.contacts.ensure_sender(**args, profile_name="Bo")
    await store.contacts.ensure_sender(**args, profile_name=None)
    after = await store.contacts.get(account_id="pn", wa_id="15550002222")
    assert before is not None and after is not None
    assert after.updated_at == before.updated_at and after.profile_name == "Bo"
    await store.contacts.ensure_sender(**args, profile_name="Bo Lee")
    changed = await store.contacts.get(account_id="pn", wa_id="15550002222")
    assert changed is not None and changed.profile_name == "Bo Lee"
