"""A large webhook POST: one signal per conversation, every conversation handed over."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core import temporal_names as names
from core.contract import MAX_EARLIER_MESSAGE_IDS
from core.conversation_key import conversation_key
from tests.api.conftest import Seeded
from tests.api.support import KEY_SECRET, post_webhook


def _body(phone_number_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15557204190", "phone_number_id": phone_number_id},
        "messages": messages,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


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
    anon: httpx.AsyncClient, seeded: Seeded, ts_env: WorkflowEnvironment
) -> None:
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
