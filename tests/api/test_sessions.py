"""``/v1/accounts/{id}/sessions[/{wa_id}]`` on the time-skipping server (no visibility list)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.routes import sessions
from core.config import Settings
from core.contract import LoadSettingsRequest, ReminderRequest, ReminderResult, ReminderSettings
from tests.api.conftest import Seeded
from tests.api.support import post_webhook, sample
from tests.support import eventually
from workflows.conversation import ConversationWorkflow

WA_ID = "15553827461"  # the sender of message-text.json


@activity.defn(name="load_settings")
async def reminders_disabled(request: LoadSettingsRequest) -> ReminderSettings:
    return ReminderSettings(enabled=False, expiry_hours=23)


@activity.defn(name="send_reminder")
async def never_called(request: ReminderRequest) -> ReminderResult:
    raise AssertionError("reminders are disabled")


async def customer_writes(anon: httpx.AsyncClient, seeded: Seeded) -> datetime:
    payload = sample("message-text.json", phone_number_id=seeded.phone_number_id)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    message["timestamp"] = str(int(sent_at.timestamp()))
    assert (await post_webhook(anon, payload)).status_code == 200
    return sent_at


async def test_live_session_from_the_workflow(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    seeded: Seeded,
    settings: Settings,
    ts_env: WorkflowEnvironment,
) -> None:
    sent_at = await customer_writes(anon, seeded)
    async with Worker(
        ts_env.client,
        task_queue=settings.temporal_task_queue,
        workflows=[ConversationWorkflow],
        activities=[reminders_disabled, never_called],
    ):
        response = await eventually(
            lambda: client.get(f"/v1/accounts/{seeded.account_id}/sessions/{WA_ID}"),
            lambda r: r.status_code == 200 and r.json()["state"] == "paused",
        )
    session = response.json()
    assert session["live"] is True
    assert session["wa_id"] == WA_ID
    assert datetime.fromisoformat(session["last_customer_message_at"]) == sent_at
    assert datetime.fromisoformat(session["window_closes_at"]) == sent_at + timedelta(hours=24)
    assert session["reminder_due_at"] is None
    assert session["reminder_outcome"] is None
    workflow_id = session["workflow_id"]
    assert WA_ID not in workflow_id
    assert session["temporal_ui_url"] == (
        f"http://ui.test:8233/namespaces/{ts_env.client.namespace}/workflows/"
        f"{workflow_id.replace(':', '%3A')}/{session['run_id']}/history"
    )


async def test_session_without_a_worker_falls_back_to_attributes(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sessions, "QUERY_TIMEOUT", timedelta(milliseconds=300))
    await customer_writes(anon, seeded)
    response = await client.get(f"/v1/accounts/{seeded.account_id}/sessions/{WA_ID}")
    assert response.status_code == 200
    session = response.json()
    assert session["live"] is False
    assert session["running"] is True
    assert session["state"] == "waiting"  # started, no state published yet
    assert session["run_id"]


async def test_no_session_is_404(client: httpx.AsyncClient, seeded: Seeded) -> None:
    response = await client.get(f"/v1/accounts/{seeded.account_id}/sessions/16505550000")
    assert response.status_code == 404
    assert response.json() == {"detail": "no session for this customer"}


async def test_unknown_account_is_404(client: httpx.AsyncClient) -> None:
    for path in ("/v1/accounts/nobody/sessions", f"/v1/accounts/nobody/sessions/{WA_ID}"):
        assert (await client.get(path)).status_code == 404


async def test_bad_parameters_are_422(client: httpx.AsyncClient, seeded: Seeded) -> None:
    base = f"/v1/accounts/{seeded.account_id}/sessions"
    assert (await client.get(base, params={"state": "sleeping"})).status_code == 422
    assert (await client.get(f"{base}/not-a-number")).status_code == 422


async def test_list_needs_visibility(client: httpx.AsyncClient, seeded: Seeded) -> None:
    # The time-skipping server cannot list workflows; test_dev_server.py covers the list.
    response = await client.get(f"/v1/accounts/{seeded.account_id}/sessions")
    assert response.status_code == 501
    assert "visibility" in response.json()["detail"]
