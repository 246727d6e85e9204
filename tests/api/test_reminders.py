"""``/v1/accounts/{id}/reminders``: the audit trail, newest first, paginated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from core.identity import CustomerIdentity
from core.vocabulary import ReminderOutcome
from store.repository import Store
from tests.api.conftest import Seeded
from tests.support import store_sender

T = datetime(2026, 1, 1, 12, tzinfo=UTC)
BSUID = "US.13491208655302741918"


async def seed(store: Store, seeded: Seeded, n: int, *, wa_id: str = "16505551234") -> None:
    await store_sender(
        store, account_id=seeded.account_id, wa_id=wa_id, conversation_key=f"key-{wa_id}"
    )
    for i in range(n):
        await store.reminders.record_decision(
            account_id=seeded.account_id,
            conversation_key=f"key-{wa_id}",
            wa_id=wa_id,
            last_customer_message_at=T + timedelta(minutes=i),
            outcome=ReminderOutcome.SKIPPED_DISABLED,
            reason=f"decision {i}",
        )


def path(seeded: Seeded) -> str:
    return f"/v1/accounts/{seeded.account_id}/reminders"


async def test_pages_walk_the_whole_trail_newest_first(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    await seed(store, seeded, 5)
    seen: list[dict[str, object]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get(path(seeded), params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += page["items"]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert pages == 3
    assert [item["reason"] for item in seen] == [f"decision {i}" for i in range(4, -1, -1)]
    assert set(seen[0]) >= {
        "reminder_id",
        "wa_id",
        "last_customer_message_at",
        "outcome",
        "reason",
        "error_code",
        "message_id",
        "delivery_status",
        "text",
        "decided_at",
    }


async def test_in_flight_records_are_not_listed(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    await seed(store, seeded, 1)
    claim = await store.reminders.claim(
        account_id=seeded.account_id,
        conversation_key="key-x",
        wa_id="447700900123",
        last_customer_message_at=T,
        text="Hi!",
    )
    await seed(store, seeded, 1, wa_id="5511987654321")
    response = await client.get(path(seeded), params={"limit": 1})
    first = response.json()
    assert [item["wa_id"] for item in first["items"]] == ["5511987654321"]
    # The pending claim is skipped, and the page is still filled from the next store page.
    second = (await client.get(path(seeded), params={"limit": 1, "cursor": first["next"]})).json()
    assert [item["wa_id"] for item in second["items"]] == ["16505551234"]
    assert second["next"] is None

    await store.reminders.finish(
        reminder_id=claim.record.reminder_id, outcome=ReminderOutcome.SENT, message_id="wamid.X"
    )
    items = (await client.get(path(seeded))).json()["items"]
    assert items[0]["outcome"] == "sent"
    assert items[0]["message_id"] == "wamid.X"
    assert items[0]["text"] == "Hi!"


async def test_filter_by_customer(client: httpx.AsyncClient, seeded: Seeded, store: Store) -> None:
    await seed(store, seeded, 2)
    await seed(store, seeded, 1, wa_id="447700900123")
    response = await client.get(path(seeded), params={"wa_id": "447700900123"})
    assert [item["wa_id"] for item in response.json()["items"]] == ["447700900123"]
    nobody = await client.get(path(seeded), params={"wa_id": "447700900999"})
    assert nobody.status_code == 200 and nobody.json() == {"items": [], "next": None}


async def test_filter_by_bsuid_finds_the_customer_by_any_name(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    # First seen by BSUID alone (a username), sent to by BSUID; then their number came along.
    contact = await store.contacts.resolve_sender(
        account_id=seeded.account_id,
        identity=CustomerIdentity(user_id=BSUID, username="@maria"),
        new_key="key-maria",
        profile_name=None,
    )
    await store.reminders.record_decision(
        account_id=seeded.account_id,
        conversation_key=contact.conversation_key,
        wa_id=None,
        user_id=BSUID,
        last_customer_message_at=T,
        outcome=ReminderOutcome.SKIPPED_DISABLED,
        reason="disabled",
    )
    await store.contacts.resolve_sender(
        account_id=seeded.account_id,
        identity=CustomerIdentity(wa_id="5511987654321", user_id=BSUID),
        new_key="key-other",
        profile_name=None,
    )
    await seed(store, seeded, 1)  # someone else
    for name in (BSUID, "5511987654321"):
        items = (await client.get(path(seeded), params={"wa_id": name})).json()["items"]
        assert [(i["wa_id"], i["user_id"], i["username"]) for i in items] == [
            (None, BSUID, "@maria")
        ], name


async def test_empty_trail(client: httpx.AsyncClient, seeded: Seeded) -> None:
    assert (await client.get(path(seeded))).json() == {"items": [], "next": None}


async def test_invalid_cursor_is_400(client: httpx.AsyncClient, seeded: Seeded) -> None:
    for cursor in ("garbage", "W10", "eyJ4IjoxfQ", "!!!", "a" * 100):
        response = await client.get(path(seeded), params={"cursor": cursor})
        assert response.status_code == 400, (cursor, response.text)
        assert response.json() == {"detail": "invalid pagination cursor"}


async def test_bad_parameters_are_422(client: httpx.AsyncClient, seeded: Seeded) -> None:
    for params in (
        {"limit": 0},
        {"limit": 201},
        {"limit": "x"},
        {"wa_id": "+1"},
        {"wa_id": "us.1"},
    ):
        response = await client.get(path(seeded), params=params)
        assert response.status_code == 422


async def test_unknown_account_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/accounts/nobody/reminders")).status_code == 404
