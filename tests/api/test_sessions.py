"""``/v1/accounts/{id}/sessions[/{wa_id}]`` on the time-skipping server (no visibility list)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio import activity
from temporalio.api.common.v1 import Payload, SearchAttributes, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
    StartWorkflowExecutionRequest,
)
from temporalio.client import WorkflowExecutionStatus as Status
from temporalio.converter import default, encode_typed_search_attribute_value
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api import workflow_runs
from api.routes import sessions
from core import temporal_names as names
from core.config import Settings
from core.contract import LoadSettingsRequest, ReminderRequest, ReminderResult, ReminderSettings
from core.conversation_key import conversation_key
from tests.api.conftest import Seeded
from tests.api.support import KEY_SECRET, post_webhook, sample
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


# -- a null Datetime search attribute ---------------------------------------------------------
#
# The time-skipping server can answer an unset Datetime attribute with a null payload that still
# says ``type: Datetime``; the SDK's ``WorkflowHandle.describe()`` then raised ``TypeError:
# fromisoformat: argument must be str`` and the route answered 500.


def null_datetime() -> Payload:
    """A null as the SDK's default converter writes it (``binary/null``), typed Datetime."""
    payload = default().payload_converter.to_payloads([None])[0]
    payload.metadata["type"] = b"Datetime"
    return payload


def json_null_datetime() -> Payload:
    """A null as JSON (``json/plain`` ``null``), typed Datetime."""
    return Payload(metadata={"encoding": b"json/plain", "type": b"Datetime"}, data=b"null")


def session_attributes(*, last: datetime, state: str) -> SearchAttributes:
    """A running session's attributes with its reminder time and window close unset (null)."""
    return SearchAttributes(
        indexed_fields={
            names.SESSION_STATE.name: encode_typed_search_attribute_value(
                names.SESSION_STATE, state
            ),
            names.LAST_CUSTOMER_MESSAGE_AT.name: encode_typed_search_attribute_value(
                names.LAST_CUSTOMER_MESSAGE_AT, last
            ),
            names.REMINDER_DUE_AT.name: null_datetime(),
            names.WINDOW_CLOSES_AT.name: json_null_datetime(),
        }
    )


def test_null_datetime_attributes_are_unset() -> None:
    last = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    started = datetime(2026, 3, 1, 9, 30, 5, tzinfo=UTC)
    start_time = Timestamp()
    start_time.FromDatetime(started)
    attributes = session_attributes(last=last, state="paused")
    # Two more a session never carries: a date that is no date, and an unknown encoding.
    attributes.indexed_fields["Broken"].CopyFrom(
        Payload(metadata={"encoding": b"json/plain", "type": b"Datetime"}, data=b'"yesterday"')
    )
    attributes.indexed_fields["Alien"].CopyFrom(
        Payload(metadata={"encoding": b"x/unknown", "type": b"Keyword"}, data=b"?")
    )
    description = DescribeWorkflowExecutionResponse(
        workflow_execution_info=WorkflowExecutionInfo(
            execution=WorkflowExecution(workflow_id="wf", run_id="run-1"),
            status=WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING,
            start_time=start_time,
            search_attributes=attributes,
        )
    )

    run = workflow_runs.run_of(description)

    assert (run.workflow_id, run.run_id) == ("wf", "run-1")
    assert run.status == Status.RUNNING
    assert run.start_time == started
    assert run.close_time is None
    assert run.attributes.get(names.SESSION_STATE) == "paused"
    assert run.attributes.get(names.LAST_CUSTOMER_MESSAGE_AT) == last
    assert run.attributes.get(names.REMINDER_DUE_AT) is None
    assert run.attributes.get(names.WINDOW_CLOSES_AT) is None
    assert {pair.key.name for pair in run.attributes} == {
        names.SESSION_STATE.name,
        names.LAST_CUSTOMER_MESSAGE_AT.name,
    }


async def test_session_with_a_null_datetime_attribute_is_not_a_500(
    client: httpx.AsyncClient,
    seeded: Seeded,
    settings: Settings,
    ts_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Started (no worker runs it) with its reminder time and window close null on the server."""
    monkeypatch.setattr(sessions, "QUERY_TIMEOUT", timedelta(milliseconds=300))
    last = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    key = conversation_key(secret=KEY_SECRET, account_id=seeded.account_id, wa_id=WA_ID)
    workflow_id = names.conversation_workflow_id(account_id=seeded.account_id, conversation_key=key)
    temporal = ts_env.client
    started = await temporal.workflow_service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=temporal.namespace,
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name=names.CONVERSATION_WORKFLOW),
            task_queue=TaskQueue(name=settings.temporal_task_queue),
            request_id=str(uuid.uuid4()),
            search_attributes=session_attributes(last=last, state="paused"),
        )
    )
    # The premise: the server does hand the nulls back, typed Datetime.
    described = await temporal.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=temporal.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    returned = described.workflow_execution_info.search_attributes.indexed_fields
    assert returned[names.REMINDER_DUE_AT.name].metadata["type"] == b"Datetime"
    assert default().payload_converter.from_payload(returned[names.REMINDER_DUE_AT.name]) is None

    response = await client.get(f"/v1/accounts/{seeded.account_id}/sessions/{WA_ID}")

    assert response.status_code == 200, response.text
    session = response.json()
    assert session["live"] is False  # no worker answered the query: the attributes stood in
    assert session["running"] is True
    assert session["state"] == "paused"
    assert session["workflow_id"] == workflow_id
    assert session["run_id"] == started.run_id
    assert datetime.fromisoformat(session["last_customer_message_at"]) == last
    assert session["reminder_due_at"] is None
    assert session["window_closes_at"] is None
