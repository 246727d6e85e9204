"""A large webhook POST: one signal per conversation, every conversation handed over, the
answer not held back by the number of conversations."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.hand_over import HandOverActivities
from api import ingest
from core import temporal_names as names
from core.contract import MAX_EARLIER_MESSAGE_IDS, HandOverBatch
from core.conversation_key import conversation_key
from store.repository import Store
from tests.api.conftest import Seeded
from tests.api.support import KEY_SECRET, post_webhook, webhook_of
from tests.support import contact_by_number


def _body(phone_number_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return webhook_of(phone_number_id, messages=messages)


def _handle(client: Client, seeded: Seeded, wa_id: str) -> Any:
    key = conversation_key(secret=KEY_SECRET, account_id=seeded.account_id, wa_id=wa_id)
    return client.get_workflow_handle(
        names.conversation_workflow_id(account_id=seeded.account_id, conversation_key=key)
    )


async def test_2000_messages_to_one_conversation_are_one_signal_of_the_newest(
    anon: httpx.AsyncClient, seeded: Seeded, ts_env: WorkflowEnvironment
) -> None:
    now = int(time.time())
    # Out of order on purpose: the newest is in the middle, and two share its timestamp.
    moments = [now - 600 + (i % 500) for i in range(2_000)]
    newest = max(range(2_000), key=lambda i: (moments[i], i))
    messages = [
        {"from": "15550001111", "id": f"wamid.M{i}", "timestamp": str(t), "type": "text"}
        for i, t in enumerate(moments)
    ]
    response = await post_webhook(anon, _body(seeded.phone_number_id, messages))
    assert response.status_code == 200, response.text
    assert (response.json()["messages"], response.json()["conversations"]) == (2_000, 1)

    signals = []
    async for event in _handle(ts_env.client, seeded, "15550001111").fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            payloads = event.workflow_execution_signaled_event_attributes.input.payloads
            signals.append((await ts_env.client.data_converter.decode(payloads))[0])
    assert len(signals) == 1
    (signal,) = signals
    assert signal["message_id"] == f"wamid.M{newest}"
    assert datetime.fromisoformat(signal["sent_at"]).timestamp() == now - 600 + 499
    # The most recent older ids ride along, as many as the workflow remembers.
    earlier = [f"wamid.M{i}" for i in range(2_000) if i != newest][-MAX_EARLIER_MESSAGE_IDS:]
    assert signal["earlier_message_ids"] == earlier


async def test_many_conversations_in_one_post_are_all_handed_over(
    anon: httpx.AsyncClient,
    seeded: Seeded,
    ts_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest, "INLINE_CONVERSATIONS", 1_000)  # all signalled by the API
    now = str(int(time.time()) - 60)
    numbers = [f"1555{i:07d}" for i in range(300)]
    messages = [
        {"from": n, "id": f"wamid.C{i}.{j}", "timestamp": now, "type": "text"}
        for i, n in enumerate(numbers)
        for j in range(2)
    ]
    response = await post_webhook(anon, _body(seeded.phone_number_id, messages))
    assert response.status_code == 200, response.text
    assert (response.json()["messages"], response.json()["conversations"]) == (600, 300)
    for number in numbers:
        description = await _handle(ts_env.client, seeded, number).describe()
        assert description.id.startswith("conversation:")


async def test_conversations_past_the_inline_bound_are_left_to_a_hand_over_workflow(
    anon: httpx.AsyncClient,
    seeded: Seeded,
    store: Store,
    ts_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API signals the first conversations itself and leaves the rest, durably, to a
    hand-over workflow; its activity then starts every one of them. A redelivered POST finds
    the hand-over already started."""
    monkeypatch.setattr(ingest, "INLINE_CONVERSATIONS", 3)
    now = str(int(time.time()) - 60)
    numbers = [f"1555123{i:04d}" for i in range(8)]
    messages = [
        {"from": n, "id": f"wamid.H{i}", "timestamp": now, "type": "text"}
        for i, n in enumerate(numbers)
    ]
    body = _body(seeded.phone_number_id, messages)
    response = await post_webhook(anon, body)
    assert response.status_code == 200, response.text
    assert (response.json()["messages"], response.json()["conversations"]) == (8, 8)

    started = [await _exists(_handle(ts_env.client, seeded, n)) for n in numbers]
    assert started == [True] * 3 + [False] * 5
    # Every contact is stored before the answer, the later ones too.
    for number in numbers:
        assert await contact_by_number(store, account_id=seeded.account_id, wa_id=number)

    # The batch's id hashes its items' message ids (what a redelivery has in common).
    digest = hashlib.sha256(
        "".join(f"{seeded.account_id}:wamid.H{i}\n" for i in range(3, 8)).encode()
    )
    handle = ts_env.client.get_workflow_handle(
        f"{names.HAND_OVER_ID_PREFIX}:{digest.hexdigest()[:32]}"
    )
    hand_over = None
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_started_event_attributes"):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            (hand_over,) = await ts_env.client.data_converter.decode(payloads, [HandOverBatch])
            break
    assert hand_over is not None
    assert [item.message.message_id for item in hand_over.items] == [
        f"wamid.H{i}" for i in range(3, 8)
    ]

    again = await post_webhook(anon, body)  # Meta redelivers: the same batch, already started
    assert again.status_code == 200, again.text

    done = await ActivityEnvironment().run(
        HandOverActivities(temporal=ts_env.client).hand_over, hand_over
    )
    assert done == 5
    assert all([await _exists(_handle(ts_env.client, seeded, n)) for n in numbers])


async def _exists(handle: Any) -> bool:
    try:
        await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
