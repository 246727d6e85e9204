"""Many new customers of one webhook POST inserted together (``Contacts.insert_new``)."""

from __future__ import annotations

import asyncio

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from core.identity import CustomerIdentity
from store.contacts import NewSender
from store.repository import Store


async def test_new_senders_go_in_together_and_taken_ones_are_left_out(
    store: Store, account_id: str
) -> None:
    taken = await store.contacts.resolve_sender(
        account_id=account_id,
        identity=CustomerIdentity(wa_id="15550000001"),
        new_key="key-taken",
        profile_name="Priya",
    )
    senders = [
        NewSender(account_id, CustomerIdentity(wa_id=f"1555000{i:04d}"), f"key-{i}", f"C{i}")
        for i in range(1, 1_201)  # more than one INSERT's worth
    ] + [NewSender(account_id, CustomerIdentity(user_id="US.1349120865"), "key-bsuid", None)]
    created = await store.contacts.insert_new(senders)
    # 15550000001 is someone already: left out, their contact untouched.
    assert "key-1" not in created
    assert len(created) == 1_200
    assert (
        await store.contacts.find(
            account_id=account_id, identity=CustomerIdentity(wa_id="15550000001")
        )
        == taken
    )
    stored = await store.contacts.find(
        account_id=account_id, identity=CustomerIdentity(wa_id="15550001200")
    )
    assert stored == created["key-1200"]
    assert stored is not None and stored.profile_name == "C1200"
    bsuid = await store.contacts.find(
        account_id=account_id, identity=CustomerIdentity(user_id="US.1349120865")
    )
    assert bsuid == created["key-bsuid"]


async def test_new_customers_of_concurrent_webhooks_share_write_transactions(
    store: Store, engine: AsyncEngine, account_id: str
) -> None:
    """Each webhook's ``resolve_sender`` of a new customer joins the group commit
    (``store.group_commit``): fewer transactions than customers, and every one stored right.
    Two webhooks of one customer at once, one naming the number and one the number and BSUID,
    still make one contact that knows both."""
    commits = 0

    def count(_connection: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(engine.sync_engine, "commit", count)
    numbers = [f"1555100{i:04d}" for i in range(40)]
    identities = [CustomerIdentity(wa_id=number) for number in numbers] + [
        CustomerIdentity(wa_id=numbers[0], user_id="US.1349120865")
    ]
    contacts = await asyncio.gather(
        *(
            store.contacts.resolve_sender(
                account_id=account_id,
                identity=identity,
                new_key=f"key-{identity.wa_id}",
                profile_name=f"P{i}",
                likely_new=True,
            )
            for i, identity in enumerate(identities)
        )
    )
    event.remove(engine.sync_engine, "commit", count)
    assert commits < len(identities) // 2
    assert [c.conversation_key for c in contacts[:40]] == [f"key-{n}" for n in numbers]
    assert contacts[40].conversation_key == contacts[0].conversation_key
    both = await store.contacts.find(
        account_id=account_id, identity=CustomerIdentity(user_id="US.1349120865")
    )
    assert both is not None
    assert (both.wa_id, both.user_id, both.conversation_key) == (
        numbers[0],
        "US.1349120865",
        f"key-{numbers[0]}",
    )
    for i, number in enumerate(numbers[1:], start=1):
        stored = await store.contacts.find(
            account_id=account_id, identity=CustomerIdentity(wa_id=number)
        )
        assert stored is not None and stored.profile_name == f"P{i}"
