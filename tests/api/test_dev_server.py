"""What needs a real Temporal server (the dev server): visibility lists, batch signals, summaries.

A worker with stand-in activities (reminders disabled) runs the workflows, so sessions publish
their state; the dev server's visibility is eventually consistent, hence the polling.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api import broadcast
from core import temporal_names as names
from core.conversation_key import conversation_key
from core.vocabulary import ReminderOutcome
from store.repository import Store
from tests.api.conftest import Seeded, asgi_client, build_app, make_settings
from tests.api.support import KEY_SECRET, post_webhook, recent, sample
from tests.api.test_sessions import never_called, reminders_disabled
from tests.support import eventually
from workflows.conversation import ConversationWorkflow

pytestmark = pytest.mark.devserver

CUSTOMERS = ("15553827461", "447700900461", "5521987650123")  # senders of the batch sample
GOOD = {"enabled": True, "expiry_hours": 3, "message": "Hi {contact_firstname}, still there?"}


@pytest.fixture
async def dev_app(
    database_url: str, store: Store, dev_env: WorkflowEnvironment, http: httpx.AsyncClient
) -> AsyncIterator[tuple[FastAPI, str]]:
    settings = make_settings(database_url, namespace=dev_env.client.namespace)
    app = build_app(settings, store=store, temporal=dev_env.client, http=http)
    async with Worker(
        dev_env.client,
        task_queue=settings.temporal_task_queue,
        workflows=[ConversationWorkflow],
        activities=[reminders_disabled, never_called],
    ):
        yield app, settings.temporal_task_queue


@pytest.fixture
async def dev_client(dev_app: tuple[FastAPI, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(dev_app[0]) as client:
        yield client


async def other_account(store: Store) -> Seeded:
    suffix = uuid.uuid4().hex[:10]
    account, _ = await store.accounts.upsert(
        account_id=f"other-{suffix}",
        company_name="Other",
        phone_number_id=str(int(suffix, 16) + 1),
        access_token="t",
    )
    return Seeded(account=account)


def workflow_id(seeded: Seeded, wa_id: str) -> str:
    key = conversation_key(secret=KEY_SECRET, account_id=seeded.account_id, wa_id=wa_id)
    return names.conversation_workflow_id(account_id=seeded.account_id, conversation_key=key)


async def settings_signals(client: Client, workflow_id: str) -> int:
    count = 0
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            name = event.workflow_execution_signaled_event_attributes.signal_name
            count += name == ConversationWorkflow.settings_changed.__name__
    return count


async def sessions_of(client: httpx.AsyncClient, seeded: Seeded, **params: str) -> httpx.Response:
    return await client.get(f"/v1/accounts/{seeded.account_id}/sessions", params=params)


async def test_sessions_list_from_visibility(
    dev_client: httpx.AsyncClient, seeded: Seeded, store: Store, dev_env: WorkflowEnvironment
) -> None:
    payload = recent(
        sample("batch-two-entries-three-messages.json", phone_number_id=seeded.phone_number_id)
    )
    assert (await post_webhook(dev_client, payload)).status_code == 200
    key = conversation_key(secret=KEY_SECRET, account_id=seeded.account_id, wa_id=CUSTOMERS[0])
    await store.reminders.record_decision(
        account_id=seeded.account_id,
        conversation_key=key,
        wa_id=CUSTOMERS[0],
        last_customer_message_at=datetime.now(UTC),
        outcome=ReminderOutcome.SKIPPED_WINDOW_CLOSED,
        reason="window closed",
    )

    response = await eventually(
        lambda: sessions_of(dev_client, seeded, state="paused"),
        lambda r: r.status_code == 200 and len(r.json()["items"]) == 3,
    )
    items = {item["wa_id"]: item for item in response.json()["items"]}
    assert set(items) == set(CUSTOMERS)
    first = items[CUSTOMERS[0]]
    assert first["state"] == "paused"
    assert first["reminder_outcome"] == "skipped_window_closed"
    sent_at = datetime.fromtimestamp(
        int(payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"]), UTC
    )
    assert datetime.fromisoformat(first["last_customer_message_at"]) == sent_at
    assert first["window_closes_at"] is not None
    assert first["temporal_ui_url"].endswith(f"/{first['run_id']}/history")
    assert items[CUSTOMERS[1]]["reminder_outcome"] is None

    assert (await sessions_of(dev_client, seeded, state="waiting")).json() == {"items": []}
    everything = (await sessions_of(dev_client, seeded)).json()["items"]
    assert len(everything) == 3

    description = await dev_env.client.get_workflow_handle(
        workflow_id(seeded, CUSTOMERS[0])
    ).describe()
    summary = await description.static_summary()
    assert summary == f"WhatsApp session · account {seeded.account_id} · customer {key[:8]}"


async def test_settings_reach_running_sessions_of_that_account_only(
    dev_client: httpx.AsyncClient, seeded: Seeded, store: Store, dev_env: WorkflowEnvironment
) -> None:
    other = await other_account(store)
    for account in (seeded, other):
        payload = recent(sample("message-text.json", phone_number_id=account.phone_number_id))
        assert (await post_webhook(dev_client, payload)).status_code == 200
    await eventually(
        lambda: sessions_of(dev_client, seeded, state="paused"),
        lambda r: len(r.json()["items"]) == 1,
    )

    response = await dev_client.put(f"/v1/accounts/{seeded.account_id}/session-settings", json=GOOD)
    assert response.status_code == 200, response.text
    # The dev server runs batch jobs: the primary path (the fallback has its own test).
    assert response.json()["broadcast"]["method"] == "batch", response.json()

    mine = workflow_id(seeded, CUSTOMERS[0])
    await eventually(lambda: settings_signals(dev_env.client, mine), lambda n: n == 1)
    assert await settings_signals(dev_env.client, workflow_id(other, CUSTOMERS[0])) == 0


async def test_fallback_signals_each_session(
    dev_client: httpx.AsyncClient,
    seeded: Seeded,
    dev_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_batch(*args: object, **kwargs: object) -> str:
        raise RPCError("batch disabled", RPCStatusCode.RESOURCE_EXHAUSTED, b"")

    monkeypatch.setattr(broadcast, "_start_batch", no_batch)
    payload = recent(
        sample("batch-two-entries-three-messages.json", phone_number_id=seeded.phone_number_id)
    )
    assert (await post_webhook(dev_client, payload)).status_code == 200
    await eventually(
        lambda: sessions_of(dev_client, seeded, state="paused"),
        lambda r: len(r.json()["items"]) == 3,
    )

    response = await dev_client.put(f"/v1/accounts/{seeded.account_id}/session-settings", json=GOOD)
    assert response.status_code == 200
    assert response.json()["broadcast"] == {"method": "list", "signalled": 3, "job_id": None}
    for wa_id in CUSTOMERS:
        assert await settings_signals(dev_env.client, workflow_id(seeded, wa_id)) == 1
