"""``/webhooks/whatsapp`` is safe by default, on SQLite and on PostgreSQL, through the real store.

- A value no store can hold (a NUL, an unpaired surrogate, more characters than its column)
  costs only its item: the POST is answered 200, the item is counted as invalid, and the
  messages and statuses beside it are handled — never a 503 that Meta would redeliver for days.
- A status is applied only to a reminder of the account whose number received it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from core import temporal_names as names
from core.conversation_key import conversation_key
from core.vocabulary import DeliveryStatus, ReminderOutcome
from store.records import ReminderRecord
from store.repository import Store
from tests.api.conftest import Seeded
from tests.api.support import KEY_SECRET, on_both_databases, post_webhook, recent
from tests.store_reads import reminder_by_id
from tests.support import contact_by_number

GOOD = "15550000001"  # the sibling customer of every poison item
POISON = "15550000002"  # the customer a poison item is about
WAMID = "wamid.HBgLMTU1NTAwMDAwMDEVAgASGBQzQTRGQjg2OTc4QkM0RTgxQ0FBMQA="


# Every test here runs on both databases.
postgres_database, database_url = on_both_databases("api_safety")


def _message(sender: str, message_id: str) -> dict[str, Any]:
    return {
        "from": sender,
        "id": message_id,
        "timestamp": "0",
        "type": "text",
        "text": {"body": "hello"},
    }


def _payload(phone_number_id: str, *, reminder: ReminderRecord) -> dict[str, Any]:
    """One change: a poison customer's contact and message, a good sibling, and a status for
    ``reminder`` (sent as ``wamid.R``) — the items each test then spoils one by one."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15557204190", "phone_number_id": phone_number_id},
        "contacts": [
            {"wa_id": POISON, "profile": {"name": "Priya Raman", "username": "@priya"}},
            {"wa_id": GOOD, "profile": {"name": "Tom Whitfield"}},
        ],
        "messages": [_message(POISON, WAMID + "P"), _message(GOOD, WAMID + "G")],
        "statuses": [
            {
                "id": "wamid.R",
                "status": "delivered",
                "timestamp": "1752139300",
                "recipient_id": GOOD,
                "biz_opaque_callback_data": reminder.reminder_id,
            }
        ],
    }
    return recent(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
    )


async def _sent_reminder(store: Store, account_id: str, *, wa_id: str = GOOD) -> ReminderRecord:
    key = conversation_key(secret=KEY_SECRET, account_id=account_id, wa_id=wa_id)
    account = await store.accounts.get(account_id=account_id)
    assert account is not None
    claim = await store.reminders.claim(
        account_id=account_id,
        conversation_key=key,
        wa_id=wa_id,
        last_customer_message_at=account.created_at,
        text="Hi Tom!",
    )
    return await store.reminders.finish(
        reminder_id=claim.record.reminder_id, outcome=ReminderOutcome.SENT, message_id="wamid.R"
    )


async def _running(client: Client, account_id: str, wa_id: str) -> bool:
    key = conversation_key(secret=KEY_SECRET, account_id=account_id, wa_id=wa_id)
    workflow_id = names.conversation_workflow_id(account_id=account_id, conversation_key=key)
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def _value(payload: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = payload["entry"][0]["changes"][0]["value"]
    return value


def _profile(field: str, poison: str) -> Callable[[dict[str, Any]], None]:
    def spoil(payload: dict[str, Any]) -> None:
        _value(payload)["contacts"][0]["profile"][field] = poison

    return spoil


def _message_field(field: str, poison: str) -> Callable[[dict[str, Any]], None]:
    def spoil(payload: dict[str, Any]) -> None:
        _value(payload)["messages"][0][field] = poison
        if field == "from":
            _value(payload)["contacts"][0]["wa_id"] = poison

    return spoil


NUL = "Priya\u0000Raman"
SURROGATE = "Priya \ud800"

# Poison in a contact's profile: only that field is dropped; the message still moves the window.
PROFILE_POISON = {
    "name with NUL": _profile("name", NUL),
    "name with an unpaired surrogate": _profile("name", SURROGATE),
    "name of 1 MB": _profile("name", "P" * 1_000_000),
    "username with NUL": _profile("username", "@pri\u0000ya"),
    "username with an unpaired surrogate": _profile("username", "@pri\ud800ya"),
    "username of 1,000 characters": _profile("username", "@" + "p" * 999),
}

# Poison in a message: the message is skipped; its sibling and the status are handled.
MESSAGE_POISON = {
    "40-digit from": _message_field("from", "1" * 40),
    "message id with NUL": _message_field("id", "wamid.\u0000"),
    "message id with an unpaired surrogate": _message_field("id", "wamid.\ud800"),
    "message id of 100,000 characters": _message_field("id", "wamid." + "A" * 100_000),
    "type with NUL": _message_field("type", "te\u0000xt"),
}


@pytest.mark.parametrize("spoil", PROFILE_POISON.values(), ids=PROFILE_POISON.keys())
async def test_a_poison_profile_field_is_dropped_and_the_message_handled(
    anon: httpx.AsyncClient,
    seeded: Seeded,
    store: Store,
    ts_env: WorkflowEnvironment,
    spoil: Callable[[dict[str, Any]], None],
) -> None:
    reminder = await _sent_reminder(store, seeded.account_id)
    payload = _payload(seeded.phone_number_id, reminder=reminder)
    spoil(payload)
    response = await post_webhook(anon, payload)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["messages"], answer["conversations"], answer["invalid"]) == (2, 2, 1)
    for wa_id in (POISON, GOOD):
        assert await _running(ts_env.client, seeded.account_id, wa_id)
    contact = await contact_by_number(store, account_id=seeded.account_id, wa_id=POISON)
    assert contact is not None
    spoiled = _value(payload)["contacts"][0]["profile"]
    # The good field of the two is kept, the poison one never stored.
    assert (contact.profile_name, contact.username) == (
        None if spoiled["name"] != "Priya Raman" else "Priya Raman",
        None if spoiled["username"] != "@priya" else "@priya",
    )
    applied = await reminder_by_id(store, reminder.reminder_id)
    assert applied is not None and applied.delivery_status == DeliveryStatus.DELIVERED


@pytest.mark.parametrize("spoil", MESSAGE_POISON.values(), ids=MESSAGE_POISON.keys())
async def test_a_poison_message_is_skipped_and_its_siblings_handled(
    anon: httpx.AsyncClient,
    seeded: Seeded,
    store: Store,
    ts_env: WorkflowEnvironment,
    spoil: Callable[[dict[str, Any]], None],
) -> None:
    reminder = await _sent_reminder(store, seeded.account_id)
    payload = _payload(seeded.phone_number_id, reminder=reminder)
    spoil(payload)
    response = await post_webhook(anon, payload)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["messages"], answer["conversations"], answer["statuses"]) == (1, 1, 1)
    assert answer["invalid"] >= 1
    assert await _running(ts_env.client, seeded.account_id, GOOD)
    assert not await _running(ts_env.client, seeded.account_id, POISON)
    applied = await reminder_by_id(store, reminder.reminder_id)
    assert applied is not None and applied.delivery_status == DeliveryStatus.DELIVERED


def _status_field(field: str, poison: str) -> Callable[[dict[str, Any]], None]:
    def spoil(payload: dict[str, Any]) -> None:
        statuses = _value(payload)["statuses"]
        bad = dict(statuses[0], status="read")
        if field == "error":
            bad.update(status="failed", errors=[{"code": 131026, "message": poison}])
        else:
            bad[field] = poison
        statuses.insert(0, bad)

    return spoil


STATUS_POISON = {
    "status id with NUL": _status_field("id", "wamid.\u0000"),
    "status id with an unpaired surrogate": _status_field("id", "wamid.\ud800"),
    "callback data with NUL": _status_field("biz_opaque_callback_data", "r\u0000"),
    "callback data of 100,000 characters": _status_field("biz_opaque_callback_data", "r" * 10**5),
    "error message with NUL": _status_field("error", "undeliverable\u0000"),
    "error message of 100,000 characters": _status_field("error", "u" * 100_000),
}


@pytest.mark.parametrize("spoil", STATUS_POISON.values(), ids=STATUS_POISON.keys())
async def test_a_poison_status_is_skipped_and_its_siblings_handled(
    anon: httpx.AsyncClient,
    seeded: Seeded,
    store: Store,
    ts_env: WorkflowEnvironment,
    spoil: Callable[[dict[str, Any]], None],
) -> None:
    reminder = await _sent_reminder(store, seeded.account_id)
    payload = _payload(seeded.phone_number_id, reminder=reminder)
    spoil(payload)
    response = await post_webhook(anon, payload)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["messages"], answer["statuses"], answer["invalid"]) == (2, 1, 1)
    assert await _running(ts_env.client, seeded.account_id, GOOD)
    applied = await reminder_by_id(store, reminder.reminder_id)
    # The good "delivered" applied; the poison one (a "read" or a "failed") did not.
    assert applied is not None
    assert (applied.delivery_status, applied.outcome) == ("delivered", "sent")


@pytest.mark.parametrize(
    "phone_number_id", ["1\u00002", "1\ud800", "1" * 1000], ids=["NUL", "surrogate", "long"]
)
async def test_a_poison_business_number_skips_only_its_change(
    anon: httpx.AsyncClient,
    seeded: Seeded,
    store: Store,
    ts_env: WorkflowEnvironment,
    phone_number_id: str,
) -> None:
    reminder = await _sent_reminder(store, seeded.account_id)
    payload = _payload(seeded.phone_number_id, reminder=reminder)
    bad = _payload(phone_number_id, reminder=reminder)["entry"][0]
    payload["entry"].insert(0, bad)
    response = await post_webhook(anon, payload)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["messages"], answer["statuses"], answer["invalid"]) == (2, 1, 1)
    assert await _running(ts_env.client, seeded.account_id, GOOD)


# -- statuses are scoped to the account that received them ------------------------------------


async def test_a_status_under_another_account_leaves_the_reminder_alone(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    """Account A's number receives a status naming account B's wamid and reminder id: B's
    reminder stays as it is. The same status under B's own number applies."""
    suffix = uuid.uuid4().hex[:10]
    other, _ = await store.accounts.upsert(
        account_id=f"other-{suffix}",
        company_name="Other Ltd.",
        phone_number_id=str(int(suffix, 16) + 1),
        access_token="EAAG-other",
    )
    reminder = await _sent_reminder(store, seeded.account_id)

    def failed_131047(phone_number_id: str) -> dict[str, Any]:
        payload = _payload(phone_number_id, reminder=reminder)
        value = _value(payload)
        value["contacts"] = value["messages"] = []
        value["statuses"][0].update(
            status="failed", errors=[{"code": 131047, "title": "Re-engagement message"}]
        )
        return payload

    response = await post_webhook(anon, failed_131047(other.phone_number_id))
    assert response.status_code == 200, response.text
    assert (response.json()["statuses"], response.json()["unknown_account_items"]) == (1, 0)
    assert await reminder_by_id(store, reminder.reminder_id) == reminder

    response = await post_webhook(anon, failed_131047(seeded.phone_number_id))
    assert response.status_code == 200, response.text
    applied = await reminder_by_id(store, reminder.reminder_id)
    assert applied is not None
    assert (applied.outcome, applied.delivery_status, applied.error_code) == (
        ReminderOutcome.FAILED_WINDOW_CLOSED,
        DeliveryStatus.FAILED,
        131047,
    )
