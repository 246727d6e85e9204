"""Many new customers of one webhook POST inserted together (``Contacts.insert_new``)."""

from __future__ import annotations

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
