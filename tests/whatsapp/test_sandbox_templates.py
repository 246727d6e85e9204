"""The sandbox Graph API takes template messages: Meta's shape checked, recorded in the outbox
with name, language and parameters, reported by status webhooks, and refused on demand with a
template error aimed at one template name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import eventually, serve
from tests.whatsapp.test_sandbox_statuses import SECRET, Receiver
from whatsapp.client import CloudApiClient, SentMessage
from whatsapp.errors import AmbiguousSendError, PermanentSendError
from whatsapp.sandbox import StatusWebhooks, create_sandbox_app, sandbox_state
from whatsapp.webhook import StatusUpdate

TOKEN = "sandbox-token"
PHONE_NUMBER_ID = "106540352242922"
BASE = "http://sandbox.test"
TEMPLATE = "session_closed_reminder"
MESSAGES = f"/v26.0/{PHONE_NUMBER_ID}/messages"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app() -> FastAPI:
    return create_sandbox_app(access_tokens={TOKEN})


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


@pytest.fixture
def client(http: httpx.AsyncClient) -> CloudApiClient:
    return CloudApiClient(http, base_url=BASE, api_version="v26.0")


async def send_template(client: CloudApiClient, **overrides: Any) -> SentMessage:
    kwargs: dict[str, Any] = {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": TOKEN,
        "to": "16505551234",
        "name": TEMPLATE,
        "language": "en_US",
        "body_parameters": ["John", "Acme Inc."],
        "callback_data": "reminder-1",
    }
    kwargs.update(overrides)
    return await client.send_template(**kwargs)


async def send_text(client: CloudApiClient) -> SentMessage:
    return await client.send_text(
        phone_number_id=PHONE_NUMBER_ID, access_token=TOKEN, to="16505551234", body="Hi!"
    )


async def fail(http: httpx.AsyncClient, **failure: Any) -> None:
    response = await http.post("/_sandbox/failures", json=failure)
    assert response.status_code == 201, response.text


async def recorded(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await http.get("/_sandbox/messages")).json()["items"]
    return items


def template_body(**template: Any) -> dict[str, Any]:
    """A raw template send; ``template`` replaces keys of a valid one (None: drop the key)."""
    valid: dict[str, Any] = {
        "name": TEMPLATE,
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "John"}]}],
    }
    merged = {k: v for k, v in (valid | template).items() if v is not None}
    return {
        "messaging_product": "whatsapp",
        "to": "+16505551234",
        "type": "template",
        "template": merged,
    }


# -- accepted and recorded ---------------------------------------------------------------------


async def test_a_template_is_recorded_with_name_language_and_parameters(
    client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    sent = await send_template(client)
    (item,) = await recorded(http)
    assert item["id"] == sent.message_id and item["id"].startswith("wamid.")
    assert item["kind"] == "template"
    assert item["body"] is None
    assert item["template"] == {
        "name": TEMPLATE,
        "language": "en_US",
        "parameters": ["John", "Acme Inc."],
    }
    assert (item["to"], item["wa_id"], item["callback_data"]) == (
        "+16505551234",
        "16505551234",
        "reminder-1",
    )
    assert item["answered_status"] == 200


async def test_texts_are_recorded_as_text_kind(
    client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    await send_text(client)
    (item,) = await recorded(http)
    assert (item["kind"], item["body"], item["template"]) == ("text", "Hi!", None)


async def test_a_template_without_parameters_and_to_a_bsuid(
    client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    await send_template(
        client, to=None, recipient="US.13491208655302741918", body_parameters=[], language="pt_BR"
    )
    (item,) = await recorded(http)
    assert item["template"] == {"name": TEMPLATE, "language": "pt_BR", "parameters": []}
    assert (item["addressed_by"], item["user_id"]) == ("recipient", "US.13491208655302741918")


async def test_the_answer_has_metas_template_shape(http: httpx.AsyncClient) -> None:
    response = await http.post(MESSAGES, headers=AUTH, json=template_body())
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+16505551234", "wa_id": "16505551234"}]
    (message,) = body["messages"]
    assert message["id"].startswith("wamid.") and message["message_status"] == "accepted"


async def test_parameter_keys_meta_allows_are_ignored(http: httpx.AsyncClient) -> None:
    named = {"type": "text", "parameter_name": "first_name", "text": "John"}
    response = await http.post(
        MESSAGES,
        headers=AUTH,
        json=template_body(
            language={"code": "en_US", "policy": "deterministic"},
            components=[{"type": "body", "parameters": [named]}],
        ),
    )
    assert response.status_code == 200
    assert (await recorded(http))[0]["template"]["parameters"] == ["John"]


# -- refused like Meta -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (template_body() | {"template": None}, "template"),
        (template_body(name=None), "template['name']"),
        (template_body(name=""), "template['name']"),
        (template_body(language=None), "template['language']"),
        (template_body(language={}), "template['language']['code']"),
        (template_body(language={"code": ""}), "template['language']['code']"),
        (template_body(language="en_US"), "template['language']"),
        (template_body(components={"type": "body"}), "template['components']"),
        (
            template_body(components=[{"type": "header", "parameters": []}]),
            "template['components'][0]['type']",
        ),
        (
            template_body(components=[{"type": "body", "parameters": []}] * 2),
            "template['components']",
        ),
        (
            template_body(components=[{"type": "body", "parameters": "John"}]),
            "template['components'][0]['parameters']",
        ),
        (
            template_body(
                components=[{"type": "body", "parameters": [{"type": "image", "text": "x"}]}]
            ),
            "template['components'][0]['parameters'][0]['type']",
        ),
        (
            template_body(components=[{"type": "body", "parameters": [{"type": "text"}]}]),
            "template['components'][0]['parameters'][0]['text']",
        ),
        (
            template_body(
                components=[{"type": "body", "parameters": [{"type": "text", "text": ""}]}]
            ),
            "template['components'][0]['parameters'][0]['text']",
        ),
        (template_body() | {"type": "image"}, "type"),
        (template_body() | {"type": "text"}, "text"),  # a template is no text
    ],
)
async def test_a_malformed_template_is_100(
    http: httpx.AsyncClient, body: dict[str, Any], problem: str
) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    await fail(http, kind="http", status=500)  # a refused body consumes no failure
    response = await http.post(MESSAGES, headers=AUTH, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == 100
    assert error["error_data"]["details"].startswith(f"Param {problem}")
    assert await recorded(http) == []
    assert len((await http.get("/_sandbox/failures")).json()["items"]) == 1


async def test_an_empty_parameter_through_the_client_is_permanent(
    client: CloudApiClient,
) -> None:
    with pytest.raises(PermanentSendError) as caught:
        await send_template(client, body_parameters=["John", ""])
    assert caught.value.code == 100


# -- template errors on demand -----------------------------------------------------------------


async def test_a_failure_aimed_at_a_template_waits_for_it(
    app: FastAPI, client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    await fail(http, kind="http", status=404, code=132001, template=TEMPLATE, times=2)
    pending = (await http.get("/_sandbox/failures")).json()["items"]
    assert [(f["code"], f["template"]) for f in pending] == [(132001, TEMPLATE)] * 2

    await send_text(client)  # texts and other templates pass it by
    await send_template(client, name="another_template")
    for _ in range(2):
        with pytest.raises(PermanentSendError) as caught:
            await send_template(client)
        assert (caught.value.code, caught.value.http_status) == (132001, 404)
        assert caught.value.message == "(#132001) Template does not exist"
    await send_template(client)  # consumed: the template goes out again

    kinds = [(m["kind"], (m["template"] or {}).get("name")) for m in await recorded(http)]
    assert kinds == [("text", None), ("template", "another_template"), ("template", TEMPLATE)]
    assert not sandbox_state(app).failures


async def test_aimed_and_unaimed_failures_keep_their_order(
    client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    await fail(http, kind="http", status=400, code=132015, template=TEMPLATE)
    await fail(http, kind="http", status=503, code=131000)
    with pytest.raises(AmbiguousSendError):  # the text takes the first failure it may take
        await send_text(client)
    with pytest.raises(PermanentSendError) as caught:
        await send_template(client)
    assert caught.value.code == 132015


async def test_an_unaimed_failure_is_taken_by_a_template_too(
    client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    await fail(http, kind="accept_then_fail", status=500)
    with pytest.raises(AmbiguousSendError):
        await send_template(client)
    (item,) = await recorded(http)
    assert (item["kind"], item["answered_status"]) == ("template", 500)


@pytest.mark.parametrize("code", [132000, 132001, 132005, 132007, 132012, 132015, 132016])
async def test_each_template_error_reaches_the_client_as_permanent(
    client: CloudApiClient, http: httpx.AsyncClient, code: int
) -> None:
    await fail(http, kind="http", status=400, code=code, template=TEMPLATE)
    with pytest.raises(PermanentSendError) as caught:
        await send_template(client)
    assert caught.value.code == code
    assert not caught.value.message.startswith(f"(#{code}) Sandbox injected failure")


# -- status webhooks ---------------------------------------------------------------------------


async def test_a_template_is_reported_sent_delivered_read() -> None:
    receiver = Receiver()
    async with serve(receiver.app()) as receiver_url:
        sandbox = create_sandbox_app(
            access_tokens={TOKEN},
            status_webhooks=StatusWebhooks(
                url=f"{receiver_url}/webhooks/whatsapp", app_secret=SECRET, delay=0.05, step=0.05
            ),
        )
        async with serve(sandbox) as sandbox_url, httpx.AsyncClient() as http:
            client = CloudApiClient(http, base_url=sandbox_url, api_version="v26.0")
            sent = await send_template(client, callback_data="reminder-9")
            statuses = await eventually(
                lambda: _statuses(receiver), lambda s: len(s) == 3, timeout=10
            )
    assert [s.status for s in statuses] == ["sent", "delivered", "read"]
    assert {(s.message_id, s.callback_data) for s in statuses} == {(sent.message_id, "reminder-9")}


async def _statuses(receiver: Receiver) -> list[StatusUpdate]:
    return list(receiver.statuses)
