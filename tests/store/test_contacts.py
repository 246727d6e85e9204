"""Contacts: one customer whatever Meta calls them, and webhook data that never clobbers the
merge-field data set through the API."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.identity import CustomerIdentity
from store.errors import AccountNotFound
from store.records import Contact
from store.repository import Store
from tests.store.conftest import START, FakeClock

BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"


def phone(wa_id: str) -> CustomerIdentity:
    return CustomerIdentity(wa_id=wa_id)


class Sender:
    likely_new = False


@pytest.fixture(autouse=True, params=[False, True], ids=["read-first", "insert-first"])
def _insert_first(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rule holds whether the webhook believes the sender new (insert first) or not."""
    monkeypatch.setattr(Sender, "likely_new", bool(request.param))


async def sender(
    store: Store,
    account_id: str,
    identity: CustomerIdentity,
    key: str,
    profile_name: str | None = None,
) -> Contact:
    return await store.contacts.resolve_sender(
        account_id=account_id,
        identity=identity,
        new_key=key,
        profile_name=profile_name,
        likely_new=Sender.likely_new,
    )


async def found(store: Store, account_id: str, identity: CustomerIdentity) -> Contact:
    contact = await store.contacts.find(account_id=account_id, identity=identity)
    assert contact is not None
    return contact


async def test_profile_name_creates_then_refreshes(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    await sender(store, account_id, phone("15550001"), "k1", "Johnny")
    contact = await found(store, account_id, phone("15550001"))
    assert (contact.profile_name, contact.first_name, contact.conversation_key) == (
        "Johnny",
        None,
        "k1",
    )
    assert contact.created_at == contact.updated_at == START

    clock.advance(minutes=5)
    await sender(store, account_id, phone("15550001"), "ignored", None)
    unchanged = await found(store, account_id, phone("15550001"))
    assert unchanged == contact  # None never erases, and does not even touch updated_at

    await sender(store, account_id, phone("15550001"), "ignored", "John S.")
    renamed = await found(store, account_id, phone("15550001"))
    assert renamed.profile_name == "John S."
    assert renamed.updated_at == START.replace(minute=5)
    assert renamed.conversation_key == "k1"  # the key given first is kept for good


async def test_profile_name_does_not_clobber_first_and_last_name(
    store: Store, account_id: str
) -> None:
    contact, created = await store.contacts.upsert(
        account_id=account_id,
        identity=phone("15550002"),
        new_key="k2",
        first_name="John",
        last_name="Smith",
        email="john@example.com",
    )
    assert created
    await sender(store, account_id, phone("15550002"), "k2", "Jo")
    after = await found(store, account_id, phone("15550002"))
    assert (after.first_name, after.last_name, after.email, after.profile_name) == (
        "John",
        "Smith",
        "john@example.com",
        "Jo",
    )

    # And the API's PUT keeps the profile name.
    updated, created = await store.contacts.upsert(
        account_id=account_id,
        identity=phone("15550002"),
        new_key="other",
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
    assert updated.conversation_key == "k2"


async def test_upsert_contact_needs_an_account(store: Store) -> None:
    with pytest.raises(AccountNotFound):
        await store.contacts.upsert(
            account_id="nobody",
            identity=phone("15550000001"),
            new_key="k",
            first_name=None,
            last_name=None,
            email=None,
        )


async def test_concurrent_profile_names_for_one_customer(store: Store, account_id: str) -> None:
    await asyncio.gather(
        *(sender(store, account_id, phone("15550003"), "k3", f"name {i % 3}") for i in range(12))
    )
    contact = await found(store, account_id, phone("15550003"))
    assert contact.profile_name in {"name 0", "name 1", "name 2"}


async def test_lookups_by_conversation_key(store: Store, account_id: str) -> None:
    for n in range(3):
        await sender(store, account_id, phone(f"1555000{n}"), f"key{n}")

    async def by_key(account: str, key: str) -> Contact | None:
        # The send activity finds its contact by conversation key alone.
        context = await store.reminders.load_context(account_id=account, conversation_key=key)
        return context.contact

    contact = await by_key(account_id, "key1")
    assert contact is not None and contact.wa_id == "15550001"
    assert await by_key(account_id, "nope") is None
    assert await by_key("other", "key1") is None
    by_keys = await store.contacts.by_keys(
        account_id=account_id, conversation_keys=["key0", "key2", "missing", "key2"]
    )
    assert {key: c.wa_id for key, c in by_keys.items()} == {"key0": "15550000", "key2": "15550002"}
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
                identity=phone("15550009"),
                new_key="k9",
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
    await sender(store, "ctx", phone("15550001111"), "k-ctx", "Ana")
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
    who = phone("15550002222")
    await sender(store, "pn", who, "k-pn", "Bo")
    before = await found(store, "pn", who)
    clock.advance(minutes=5)  # a write now would move updated_at
    await sender(store, "pn", who, "k-pn", "Bo")
    await sender(store, "pn", who, "k-pn", None)
    after = await found(store, "pn", who)
    assert after.updated_at == before.updated_at and after.profile_name == "Bo"
    await sender(store, "pn", who, "k-pn", "Bo Lee")
    changed = await found(store, "pn", who)
    assert changed.profile_name == "Bo Lee"


# -- one customer, whatever Meta calls them ---------------------------------------------------


async def test_bsuid_first_then_phone_and_bsuid_is_one_contact(
    store: Store, account_id: str
) -> None:
    first = await sender(
        store, account_id, CustomerIdentity(user_id=BSUID, username="@maria"), "k-b", "Maria"
    )
    assert (first.wa_id, first.user_id, first.username) == (None, BSUID, "@maria")
    # What a new contact's creation answers is exactly what is stored.
    assert first == await found(store, account_id, CustomerIdentity(user_id=BSUID))
    both = await sender(
        store, account_id, CustomerIdentity(wa_id="15550004444", user_id=BSUID), "k-phone"
    )
    assert both.conversation_key == "k-b"
    assert (both.wa_id, both.user_id, both.username) == ("15550004444", BSUID, "@maria")
    # From now on the number alone finds the same customer too.
    by_number = await found(store, account_id, phone("15550004444"))
    assert by_number.conversation_key == "k-b"


async def test_phone_first_then_bsuid_and_phone_is_one_contact(
    store: Store, account_id: str
) -> None:
    await sender(store, account_id, phone("15550005555"), "k-p", "Leo")
    both = await sender(
        store,
        account_id,
        CustomerIdentity(wa_id="15550005555", user_id=BSUID, parent_user_id=PARENT),
        "k-other",
    )
    assert both.conversation_key == "k-p"
    assert (both.user_id, both.parent_user_id) == (BSUID, PARENT)
    for alone in (CustomerIdentity(user_id=BSUID), CustomerIdentity(parent_user_id=PARENT)):
        assert (await found(store, account_id, alone)).conversation_key == "k-p"


async def test_a_parent_bsuid_alone_is_a_customer(store: Store, account_id: str) -> None:
    contact = await sender(store, account_id, CustomerIdentity(parent_user_id=PARENT), "k-par")
    assert (contact.wa_id, contact.user_id, contact.recipient) == (None, None, PARENT)
    later = await sender(
        store, account_id, CustomerIdentity(user_id=BSUID, parent_user_id=PARENT), "k-x"
    )
    assert later.conversation_key == "k-par" and later.recipient == BSUID


async def test_username_follows_the_newest_webhook(store: Store, account_id: str) -> None:
    await sender(store, account_id, CustomerIdentity(user_id=BSUID, username="@old"), "k-u")
    await sender(store, account_id, CustomerIdentity(user_id=BSUID, username="@new"), "k-u")
    await sender(store, account_id, CustomerIdentity(user_id=BSUID), "k-u")  # says nothing
    assert (await found(store, account_id, CustomerIdentity(user_id=BSUID))).username == "@new"


async def test_two_contacts_named_together_later_stay_two_conversations(
    store: Store, account_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Seen by number alone and, separately, by BSUID alone: nothing linked them then, so they
    # are two conversations with two workflow ids. A webhook naming both cannot merge running
    # workflows; it keeps to the number's contact and says so in the log.
    await sender(store, account_id, phone("15550006666"), "k-num")
    await sender(store, account_id, CustomerIdentity(user_id=BSUID), "k-bs")
    with caplog.at_level(logging.WARNING, logger="store.contacts"):
        both = await sender(
            store, account_id, CustomerIdentity(wa_id="15550006666", user_id=BSUID), "k-new"
        )
    assert both.conversation_key == "k-num" and both.user_id is None
    assert "belongs to another contact" in caplog.text
    assert "15550006666" not in caplog.text and BSUID not in caplog.text
    assert (await found(store, account_id, CustomerIdentity(user_id=BSUID))).conversation_key == (
        "k-bs"
    )


async def test_racing_webhooks_under_different_names_create_one_contact(
    store: Store, account_id: str
) -> None:
    names = [
        CustomerIdentity(user_id=BSUID),
        CustomerIdentity(wa_id="15550007777", user_id=BSUID),
    ] * 4
    contacts = await asyncio.gather(
        *(sender(store, account_id, who, f"k-race-{i}") for i, who in enumerate(names))
    )
    assert len({c.conversation_key for c in contacts}) == 1
    final = await found(store, account_id, phone("15550007777"))
    assert final.user_id == BSUID and final.conversation_key == contacts[0].conversation_key


async def test_api_contact_by_bsuid_is_the_webhook_customer(store: Store, account_id: str) -> None:
    contact, created = await store.contacts.upsert(
        account_id=account_id,
        identity=CustomerIdentity(user_id=BSUID),
        new_key="k-api",
        first_name="Maria",
        last_name=None,
        email=None,
    )
    assert created and contact.wa_id is None
    webhook = await sender(
        store, account_id, CustomerIdentity(wa_id="15550008888", user_id=BSUID), "k-hook", "M"
    )
    assert webhook.conversation_key == "k-api"
    assert (webhook.first_name, webhook.profile_name, webhook.wa_id) == (
        "Maria",
        "M",
        "15550008888",
    )


async def test_a_sender_believed_new_but_known_is_completed_not_duplicated(
    store: Store, account_id: str
) -> None:
    await store.contacts.resolve_sender(
        account_id=account_id, identity=phone("15550077"), new_key="k77", profile_name="Ann"
    )
    again = await store.contacts.resolve_sender(
        account_id=account_id,
        identity=CustomerIdentity(wa_id="15550077", user_id=BSUID),
        new_key="other",
        profile_name="Anna",
        likely_new=True,
    )
    assert (again.conversation_key, again.user_id, again.profile_name) == ("k77", BSUID, "Anna")
