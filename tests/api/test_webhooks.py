"""``/webhooks/whatsapp``: verification, signature, size cap, parsing, and the hand-off."""

from __future__ import annotations

import asyncio
import copy
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.routes.webhooks import MAX_DRAIN_BYTES
from core import temporal_names as names
from core.config import Settings
from core.conversation_key import conversation_key, new_conversation_key
from core.identity import CustomerIdentity
from core.vocabulary import ReminderOutcome
from store.db import create_engine, create_sessionmaker
from store.repository import Store
from tests.api.conftest import Seeded, asgi_client, build_app
from tests.api.support import KEY_SECRET, VERIFY_TOKEN, post_webhook, sample, signed_headers
from tests.store_reads import reminder_by_id
from tests.support import contact_by_number, serve
from whatsapp.webhook import MAX_WEBHOOK_BYTES

MARA = "US.13491208655302741918"  # the samples' customer with a username and no number


def acknowledged(**counts: int) -> dict[str, object]:
    """The webhook's 200 answer with these counts (every other count 0)."""
    names = ("messages", "statuses", "conversations", "ignored", "invalid", "expired_messages")
    answer: dict[str, object] = {"status": "ok", "unknown_account_items": 0}
    answer.update(dict.fromkeys(names, 0), **counts)
    return answer


def workflow_id(seeded: Seeded, wa_id: str) -> str:
    key = conversation_key(secret=KEY_SECRET, account_id=seeded.account_id, wa_id=wa_id)
    return names.conversation_workflow_id(account_id=seeded.account_id, conversation_key=key)


async def workflow_exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


# -- verification handshake ------------------------------------------------------------------


async def test_verification_echoes_the_challenge(anon: httpx.AsyncClient) -> None:
    response = await anon.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
    )
    assert response.status_code == 200
    assert response.text == "42"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "42"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
        {"hub.challenge": "42"},
        {},
    ],
)
async def test_verification_refused(anon: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await anon.get("/webhooks/whatsapp", params=params)
    assert response.status_code == 403
    assert "42" not in response.text


# -- signature, size, shape ------------------------------------------------------------------


async def test_missing_signature_is_401(anon: httpx.AsyncClient, seeded: Seeded) -> None:
    body = json.dumps(sample("message-text.json", phone_number_id=seeded.phone_number_id))
    response = await anon.post("/webhooks/whatsapp", content=body)
    assert response.status_code == 401
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "header",
    ["sha256=" + "0" * 64, "sha1=abc", "sha256=zz", "", "sha256="],
)
async def test_bad_signature_is_401(anon: httpx.AsyncClient, seeded: Seeded, header: str) -> None:
    body = json.dumps(sample("message-text.json", phone_number_id=seeded.phone_number_id))
    response = await anon.post(
        "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": header}
    )
    assert response.status_code == 401


async def test_signature_checked_before_parsing(anon: httpx.AsyncClient) -> None:
    # Garbage with a wrong signature is an authentication failure, not a parse error.
    response = await anon.post(
        "/webhooks/whatsapp", content=b"{not json", headers={"X-Hub-Signature-256": "sha256=00"}
    )
    assert response.status_code == 401


async def test_signature_with_another_secret_is_401(
    anon: httpx.AsyncClient, seeded: Seeded
) -> None:
    body = json.dumps(sample("message-text.json", phone_number_id=seeded.phone_number_id)).encode()
    response = await anon.post(
        "/webhooks/whatsapp", content=body, headers=signed_headers(body, secret="other")
    )
    assert response.status_code == 401


async def test_malformed_json_is_400(anon: httpx.AsyncClient) -> None:
    response = await post_webhook(anon, b'{"object": "whatsapp_business_account", "entry": [')
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


async def test_a_body_that_is_no_webhook_is_400_with_the_place(anon: httpx.AsyncClient) -> None:
    response = await post_webhook(anon, {"object": "whatsapp_business_account", "entry": {}})
    assert response.status_code == 400
    assert response.json()["detail"] == "entry: expected a list"


async def test_a_broken_item_is_skipped_and_its_siblings_are_handled(
    anon: httpx.AsyncClient, seeded: Seeded, ts_env: WorkflowEnvironment
) -> None:
    payload = sample(
        "batch-two-entries-three-messages.json", phone_number_id=seeded.phone_number_id
    )
    broken = dict(payload["entry"][0]["changes"][0]["value"]["messages"][0])
    broken["timestamp"] = "yesterday"
    payload["entry"][0]["changes"][0]["value"]["messages"].insert(0, broken)
    response = await post_webhook(anon, payload)
    # 200: a refused body would come back from Meta for days, and the three good messages
    # with it.
    assert response.status_code == 200, response.text
    assert (response.json()["messages"], response.json()["invalid"]) == (3, 1)
    for wa_id in ("15553827461", "447700900461", "5521987650123"):
        assert await workflow_exists(ts_env.client, workflow_id(seeded, wa_id))
    metrics = (await anon.get("/metrics")).text
    assert 'whatsapp_webhook_items_total{kind="invalid"} 1.0' in metrics


async def test_oversize_body_with_content_length_is_413(anon: httpx.AsyncClient) -> None:
    body = b"x" * (MAX_WEBHOOK_BYTES + 1)
    response = await anon.post("/webhooks/whatsapp", content=body, headers=signed_headers(body))
    assert response.status_code == 413


def _urllib_post(url: str, body: bytes) -> tuple[int, bytes]:
    """A plain HTTP/1.1 client that sends the whole body before it reads, then closes."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Connection": "close", **signed_headers(body)}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def test_a_4_mb_body_gets_a_413_that_even_urllib_can_read(app: FastAPI) -> None:
    body = b"x" * (4 * 1024 * 1024)
    async with serve(app) as url:
        status, answer = await asyncio.to_thread(_urllib_post, f"{url}/webhooks/whatsapp", body)
    assert status == 413
    assert json.loads(answer) == {"detail": f"body larger than {MAX_WEBHOOK_BYTES} bytes"}


async def test_oversize_body_without_content_length_is_413(anon: httpx.AsyncClient) -> None:
    chunk = b" " * 65536
    sent = 0

    total = MAX_DRAIN_BYTES * 2

    async def stream() -> AsyncIterator[bytes]:
        nonlocal sent
        # Far beyond what is drained: the server must stop reading before the end.
        for _ in range(total // len(chunk)):
            sent += len(chunk)
            yield chunk

    request = anon.build_request(
        "POST", "/webhooks/whatsapp", content=stream(), headers={"X-Hub-Signature-256": "x"}
    )
    assert "content-length" not in request.headers
    response = await anon.send(request)
    assert response.status_code == 413
    assert sent <= MAX_DRAIN_BYTES + 2 * len(chunk) < total


# -- hand-off --------------------------------------------------------------------------------


async def test_unknown_phone_number_id_is_acknowledged(
    anon: httpx.AsyncClient, ts_env: WorkflowEnvironment, store: Store
) -> None:
    payload = sample("message-text.json", phone_number_id="999000999000")
    response = await post_webhook(anon, payload)
    assert response.status_code == 200
    assert response.json()["unknown_account_items"] == 1
    metrics = (await anon.get("/metrics")).text
    assert 'whatsapp_webhook_items_total{kind="unknown_account"} 1.0' in metrics


async def test_batch_starts_one_workflow_per_conversation(
    anon: httpx.AsyncClient, seeded: Seeded, ts_env: WorkflowEnvironment, store: Store
) -> None:
    payload = sample(
        "batch-two-entries-three-messages.json", phone_number_id=seeded.phone_number_id
    )
    response = await post_webhook(anon, payload)
    assert response.status_code == 200, response.text
    assert response.json() == acknowledged(messages=3, conversations=3)
    for wa_id, profile in [
        ("15553827461", "Priya Raman"),
        ("447700900461", "Tom Whitfield"),
        ("5521987650123", "Larissa Costa"),
    ]:
        handle = ts_env.client.get_workflow_handle(workflow_id(seeded, wa_id))
        description = await handle.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        assert description.typed_search_attributes.get(names.ACCOUNT_ID) == seeded.account_id
        # (The time-skipping server drops static summaries; test_dev_server.py checks them.)
        assert wa_id not in description.id
        contact = await contact_by_number(store, account_id=seeded.account_id, wa_id=wa_id)
        assert contact is not None and contact.profile_name == profile


def bsuid_workflow_id(seeded: Seeded, user_id: str) -> str:
    key = new_conversation_key(
        secret=KEY_SECRET, account_id=seeded.account_id, identity=CustomerIdentity(user_id=user_id)
    )
    return names.conversation_workflow_id(account_id=seeded.account_id, conversation_key=key)


async def test_a_customer_without_number_is_handled_like_any_other(
    anon: httpx.AsyncClient, seeded: Seeded, ts_env: WorkflowEnvironment, store: Store
) -> None:
    payload = sample("message-text-bsuid-only.json", phone_number_id=seeded.phone_number_id)
    response = await post_webhook(anon, payload)
    assert response.status_code == 200, response.text
    assert (response.json()["messages"], response.json()["conversations"]) == (1, 1)
    workflow = bsuid_workflow_id(seeded, MARA)
    assert MARA not in workflow and "maraq" not in workflow
    description = await ts_env.client.get_workflow_handle(workflow).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    contact = await store.contacts.find(
        account_id=seeded.account_id, identity=CustomerIdentity(user_id=MARA)
    )
    assert contact is not None
    assert (contact.wa_id, contact.username, contact.profile_name) == (None, "@maraq", "Mara Quint")


async def test_a_batch_mixing_every_way_meta_names_customers(
    anon: httpx.AsyncClient, seeded: Seeded, ts_env: WorkflowEnvironment, store: Store
) -> None:
    payload = sample("batch-bsuid-mixed.json", phone_number_id=seeded.phone_number_id)
    response = await post_webhook(anon, payload)
    assert response.status_code == 200, response.text
    assert response.json() == acknowledged(messages=4, statuses=1, conversations=4)
    for workflow in (
        bsuid_workflow_id(seeded, MARA),
        bsuid_workflow_id(seeded, "DE.60193847562019384756"),
        # Named by number (and BSUID) the first time: the number's key, as before BSUIDs.
        workflow_id(seeded, "15553827461"),
        workflow_id(seeded, "447700900461"),
    ):
        description = await ts_env.client.get_workflow_handle(workflow).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
    parent = await store.contacts.find(
        account_id=seeded.account_id,
        identity=CustomerIdentity(parent_user_id="DE.ENT.99120384756610293847"),
    )
    assert parent is not None and parent.user_id == "DE.60193847562019384756"


@pytest.mark.parametrize("bsuid_first", [True, False], ids=["bsuid-first", "phone-first"])
async def test_one_customer_named_two_ways_is_one_conversation(
    anon: httpx.AsyncClient,
    seeded: Seeded,
    ts_env: WorkflowEnvironment,
    store: Store,
    bsuid_first: bool,
) -> None:
    both = sample("message-text-phone-and-bsuid.json", phone_number_id=seeded.phone_number_id)
    value = both["entry"][0]["changes"][0]["value"]
    number = value["contacts"][0]["wa_id"]
    bsuid = value["contacts"][0]["user_id"]
    alone = copy.deepcopy(both)
    alone_value = alone["entry"][0]["changes"][0]["value"]
    del alone_value["contacts"][0]["wa_id"], alone_value["messages"][0]["from"]
    alone_value["messages"][0]["id"] = "wamid.ALONE"
    first = value["messages"][0]["id"]
    for payload in (alone, both) if bsuid_first else (both, alone):
        assert (await post_webhook(anon, payload)).status_code == 200
    expected = bsuid_workflow_id(seeded, bsuid) if bsuid_first else workflow_id(seeded, number)
    other = workflow_id(seeded, number) if bsuid_first else bsuid_workflow_id(seeded, bsuid)
    assert not await workflow_exists(ts_env.client, other)
    signalled = await _signalled(ts_env, expected)
    assert signalled == [
        "started",
        *(["wamid.ALONE", first] if bsuid_first else [first, "wamid.ALONE"]),
    ]
    contact = await store.contacts.find(
        account_id=seeded.account_id, identity=CustomerIdentity(wa_id=number)
    )
    assert contact is not None and contact.user_id == bsuid


async def test_one_post_naming_a_customer_two_ways_is_one_conversation_in_order(
    anon: httpx.AsyncClient, seeded: Seeded, ts_env: WorkflowEnvironment
) -> None:
    # Number alone, then number and BSUID, then BSUID alone: one customer, one conversation.
    payload = sample("message-text-phone-and-bsuid.json", phone_number_id=seeded.phone_number_id)
    value = payload["entry"][0]["changes"][0]["value"]
    both = value["messages"][0]
    by_number = {k: v for k, v in both.items() if k != "from_user_id"} | {"id": "wamid.NUM"}
    by_bsuid = {k: v for k, v in both.items() if k != "from"} | {"id": "wamid.BSUID"}
    value["messages"] = [by_number, both, by_bsuid]
    response = await post_webhook(anon, payload)
    assert response.status_code == 200, response.text
    assert (response.json()["messages"], response.json()["conversations"]) == (3, 1)
    signalled = await _signalled(ts_env, workflow_id(seeded, both["from"]))
    # One signal: the newest message (equal timestamps: the last), carrying the others.
    assert signalled == ["started", "wamid.BSUID"]
    assert await _earlier(ts_env, workflow_id(seeded, both["from"])) == ["wamid.NUM", both["id"]]


async def test_messages_of_one_conversation_go_to_one_run_in_order(
    anon: httpx.AsyncClient, seeded: Seeded, ts_env: WorkflowEnvironment
) -> None:
    payload = sample("message-text.json", phone_number_id=seeded.phone_number_id)
    value = payload["entry"][0]["changes"][0]["value"]
    first = value["messages"][0]
    value["messages"] = [first | {"id": f"wamid.ORDER{i}"} for i in range(3)]
    response = await post_webhook(anon, payload)
    assert response.status_code == 200
    assert response.json()["conversations"] == 1

    signalled = await _signalled(ts_env, workflow_id(seeded, first["from"]))
    # One signal-with-start for the POST: its newest message, with the older ones' ids.
    assert signalled == ["started", "wamid.ORDER2"]
    earlier = await _earlier(ts_env, workflow_id(seeded, first["from"]))
    assert earlier == ["wamid.ORDER0", "wamid.ORDER1"]


async def _earlier(env: WorkflowEnvironment, workflow_id: str) -> list[str]:
    """The earlier message ids the run's first signal carried."""
    handle = env.client.get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            attributes = event.workflow_execution_signaled_event_attributes
            decoded = await env.client.data_converter.decode(attributes.input.payloads)
            earlier: list[str] = decoded[0]["earlier_message_ids"]
            return earlier
    raise AssertionError("no signal")


async def _signalled(env: WorkflowEnvironment, workflow_id: str) -> list[str]:
    """ "started", then the message id of every signal, in the run's history order."""
    handle = env.client.get_workflow_handle(workflow_id)
    signalled = []
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            attributes = event.workflow_execution_signaled_event_attributes
            decoded = await env.client.data_converter.decode(attributes.input.payloads)
            signalled.append(decoded[0]["message_id"])
        if event.HasField("workflow_execution_started_event_attributes"):
            signalled.append("started")
    return signalled


@pytest.mark.parametrize(
    "name",
    [
        "message-text.json",
        "message-image.json",
        "message-button.json",
        "message-interactive-button-reply.json",
        "message-reaction.json",
    ],
)
async def test_every_customer_message_kind_signals(
    anon: httpx.AsyncClient, seeded: Seeded, ts_env: WorkflowEnvironment, name: str
) -> None:
    payload = sample(name, phone_number_id=seeded.phone_number_id)
    sender = payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
    response = await post_webhook(anon, payload)
    assert response.status_code == 200
    assert response.json()["messages"] == 1
    assert await workflow_exists(ts_env.client, workflow_id(seeded, sender))


@pytest.mark.parametrize("name", ["message-system.json", "message-unsupported.json"])
async def test_non_customer_messages_start_nothing(
    anon: httpx.AsyncClient, seeded: Seeded, ts_env: WorkflowEnvironment, name: str
) -> None:
    payload = sample(name, phone_number_id=seeded.phone_number_id)
    sender = payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
    response = await post_webhook(anon, payload)
    assert response.status_code == 200
    assert response.json()["ignored"] == 1
    assert not await workflow_exists(ts_env.client, workflow_id(seeded, sender))


async def test_statuses_update_the_delivery_state(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    wa_id = "16505551234"
    key = conversation_key(secret=KEY_SECRET, account_id=seeded.account_id, wa_id=wa_id)
    claim = await store.reminders.claim(
        account_id=seeded.account_id,
        conversation_key=key,
        wa_id=wa_id,
        last_customer_message_at=(
            await store.accounts.get(account_id=seeded.account_id)
        ).created_at,  # type: ignore[union-attr]
        text="Hi John!",
    )
    reminder_id = claim.record.reminder_id
    await store.reminders.finish(
        reminder_id=reminder_id, outcome=ReminderOutcome.SENT, message_id="wamid.R1"
    )

    def status(name: str) -> dict[str, object]:
        payload = sample(name, phone_number_id=seeded.phone_number_id)
        item = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
        item["id"] = "wamid.R1"
        item["biz_opaque_callback_data"] = reminder_id
        return payload

    for name, expected in [
        ("status-sent.json", "sent"),
        ("status-read.json", "read"),
        # A late "delivered" never overwrites "read".
        ("status-delivered.json", "read"),
    ]:
        response = await post_webhook(anon, status(name))
        assert response.status_code == 200, response.text
        assert response.json()["statuses"] == 1
        record = await reminder_by_id(store, reminder_id)
        assert record is not None and record.delivery_status == expected

    metrics = (await anon.get("/metrics")).text
    assert 'reminder_delivery_statuses_total{outcome="sent",status="read"} 1.0' in metrics


async def test_asynchronous_131047_is_recorded(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    wa_id = "16505551234"
    key = conversation_key(secret=KEY_SECRET, account_id=seeded.account_id, wa_id=wa_id)
    claim = await store.reminders.claim(
        account_id=seeded.account_id,
        conversation_key=key,
        wa_id=wa_id,
        last_customer_message_at=seeded.account.created_at,
        text="Hi John!",
    )
    await store.reminders.finish(
        reminder_id=claim.record.reminder_id,
        outcome=ReminderOutcome.SENT,
        message_id="wamid.F1",
    )
    payload = sample("status-failed-131047.json", phone_number_id=seeded.phone_number_id)
    item = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    item["id"] = "wamid.F1"
    item["biz_opaque_callback_data"] = claim.record.reminder_id
    response = await post_webhook(anon, payload)
    assert response.status_code == 200
    record = await reminder_by_id(store, claim.record.reminder_id)
    assert record is not None
    assert (record.delivery_status, record.outcome, record.error_code) == (
        "failed",
        "failed_window_closed",
        131047,
    )


async def test_status_of_a_message_that_is_no_reminder_is_fine(
    anon: httpx.AsyncClient, seeded: Seeded
) -> None:
    payload = sample("status-delivered.json", phone_number_id=seeded.phone_number_id)
    response = await post_webhook(anon, payload)
    assert response.status_code == 200


async def test_duplicate_delivery_is_idempotent(
    anon: httpx.AsyncClient, seeded: Seeded, ts_env: WorkflowEnvironment
) -> None:
    payload = sample("message-text.json", phone_number_id=seeded.phone_number_id)
    first = await post_webhook(anon, payload)
    second = await post_webhook(anon, payload)
    assert first.status_code == second.status_code == 200
    sender = payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
    description = await ts_env.client.get_workflow_handle(workflow_id(seeded, sender)).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING


# -- outages ---------------------------------------------------------------------------------


class _RefusingClient:
    """Stands in for a connected client whose server answers every call UNAVAILABLE."""

    def __init__(self, real: Client) -> None:
        self.namespace = real.namespace
        self.data_converter = real.data_converter

    async def start_workflow(self, *args: object, **kwargs: object) -> None:
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


@pytest.mark.parametrize("failure", ["closed_port", "rpc_error"])
async def test_temporal_down_is_503_and_a_retry_succeeds(
    settings: Settings,
    store: Store,
    seeded: Seeded,
    http: httpx.AsyncClient,
    ts_env: WorkflowEnvironment,
    temporal_down: Client,
    failure: str,
) -> None:
    broken = temporal_down if failure == "closed_port" else _RefusingClient(ts_env.client)
    down = build_app(settings, store=store, temporal=broken, http=http)  # type: ignore[arg-type]
    payload = sample(
        "batch-two-entries-three-messages.json", phone_number_id=seeded.phone_number_id
    )
    async with asgi_client(down, auth=False) as client:
        response = await post_webhook(client, payload)
        assert response.status_code == 503
        assert "temporal" in response.json()["detail"]
        metrics = (await client.get("/metrics")).text
        assert 'whatsapp_webhook_requests_total{result="unavailable"} 1.0' in metrics

    # Meta retries the same POST once Temporal is back: everything arrives.
    up = build_app(settings, store=store, temporal=ts_env.client, http=http)
    async with asgi_client(up, auth=False) as client:
        response = await post_webhook(client, payload)
        assert response.status_code == 200
    for wa_id in ("15553827461", "447700900461", "5521987650123"):
        assert await workflow_exists(ts_env.client, workflow_id(seeded, wa_id))


async def test_database_down_is_503(
    settings: Settings, http: httpx.AsyncClient, ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # A directory where the database file should be: every connection attempt fails.
    (tmp_path / "not-a-file.db").mkdir()
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'not-a-file.db'}")
    try:
        broken = Store(create_sessionmaker(engine))
        app: FastAPI = build_app(settings, store=broken, temporal=ts_env.client, http=http)
        async with asgi_client(app, auth=False) as client:
            payload = sample("message-text.json", phone_number_id="106540352242922")
            response = await post_webhook(client, payload)
            assert response.status_code == 503
            assert response.json() == {"detail": "database is unavailable, retry later"}
    finally:
        await engine.dispose()
