"""What needs a real Temporal server (the dev server): visibility lists, settings propagation,
summaries.

A worker with stand-in conversation activities (reminders disabled) and the real settings
propagation runs the workflows, so sessions publish their state; the dev server's visibility is
eventually consistent, hence the polling.
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

from activities.settings import SettingsActivities
from api.routes import settings as settings_route
from boot import Resources
from core import temporal_names as names
from core.conversation_key import conversation_key
from core.vocabulary import ReminderOutcome
from store.repository import Store
from tests.api.conftest import Seeded, asgi_client, build_app, make_settings
from tests.api.support import KEY_SECRET, post_webhook, recent, sample
from tests.api.test_sessions import never_called, reminders_disabled
from tests.support import eventually
from worker import reconcile_settings
from workflows.conversation import ConversationWorkflow
from workflows.settings_propagation import SettingsPropagationWorkflow

pytestmark = pytest.mark.devserver

CUSTOMERS = ("15553827461", "447700900461", "5521987650123")  # senders of the batch sample
GOOD = {"enabled": True, "expiry_hours": 3, "message": "Hi {contact_firstname}, still there?"}


@pytest.fixture
async def dev_app(
    database_url: str, store: Store, dev_env: WorkflowEnvironment, http: httpx.AsyncClient
) -> AsyncIterator[tuple[FastAPI, str]]:
    settings = make_settings(database_url, namespace=dev_env.client.namespace)
    app = build_app(settings, store=store, temporal=dev_env.client, http=http)
    propagation = SettingsActivities(store=store, temporal=dev_env.client)
    async with Worker(
        dev_env.client,
        task_queue=settings.temporal_task_queue,
        workflows=[ConversationWorkflow, SettingsPropagationWorkflow],
        activities=[
            reminders_disabled,
            never_called,
            propagation.signal_sessions,
            propagation.mark_settings_delivered,
        ],
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


async def _delivered(store: Store, seeded: Seeded) -> int:
    return (await store.settings.get(account_id=seeded.account_id)).delivered_version


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
    assert response.json()["delivery"] == {
        "status": "started",
        "version": 1,
        "workflow_id": f"settings:{seeded.account_id}",
    }

    mine = workflow_id(seeded, CUSTOMERS[0])
    await eventually(lambda: settings_signals(dev_env.client, mine), lambda n: n >= 1)
    # Two passes (the second for sessions that became visible late), then recorded.
    await eventually(lambda: _delivered(store, seeded), lambda v: v == 1, timeout=30)
    assert await settings_signals(dev_env.client, mine) == 2
    assert await settings_signals(dev_env.client, workflow_id(other, CUSTOMERS[0])) == 0


async def test_a_save_whose_delivery_could_not_start_is_delivered_by_the_reconciler(
    dev_app: tuple[FastAPI, str],
    dev_client: httpx.AsyncClient,
    seeded: Seeded,
    store: Store,
    dev_env: WorkflowEnvironment,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = recent(
        sample("batch-two-entries-three-messages.json", phone_number_id=seeded.phone_number_id)
    )
    assert (await post_webhook(dev_client, payload)).status_code == 200
    await eventually(
        lambda: sessions_of(dev_client, seeded, state="paused"),
        lambda r: len(r.json()["items"]) == 3,
    )

    async def temporal_unreachable(*args: object, **kwargs: object) -> str:
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(settings_route, "deliver_settings", temporal_unreachable)
    response = await dev_client.put(f"/v1/accounts/{seeded.account_id}/session-settings", json=GOOD)
    # Saved, and answered as such: delivery is the reconciler's now, not the operator's.
    assert response.status_code == 200, response.text
    assert response.json()["delivery"]["status"] == "deferred"
    assert await store.settings.undelivered() == [(seeded.account_id, 1)]
    monkeypatch.undo()

    resources = Resources(store=store, temporal=dev_env.client, http=http)
    assert await reconcile_settings(resources, task_queue=dev_app[1]) == 1
    for wa_id in CUSTOMERS:
        session = workflow_id(seeded, wa_id)

        async def signals(session: str = session) -> int:
            return await settings_signals(dev_env.client, session)

        await eventually(signals, lambda n: n >= 1)
    await eventually(lambda: _delivered(store, seeded), lambda v: v == 1, timeout=30)
    assert await store.settings.undelivered() == []
