"""CloudApiClient.send_template: the exact body Meta documents, and how its failures classify.

The body and Meta's answers are checked on httpx.MockTransport (the helpers of
``test_client``); the same failures are then played by the sandbox Graph API over loopback
HTTP, which a real client meets the way it would meet Meta.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.meta_samples import sample_json
from tests.support import serve
from tests.whatsapp.test_client import Handler, Recorder, answer, meta_error, raises
from whatsapp.client import CloudApiClient, SentMessage
from whatsapp.errors import (
    TEMPLATE_PERMANENT_CODES,
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
)
from whatsapp.sandbox import create_sandbox_app

BASE_URL = "https://graph.example.com"
TOKEN = "EAAG-secret-token"
PHONE_NUMBER_ID = "110273948561027"
CUSTOMER = "15553827461"
BSUID = "US.13491208655302741918"
CALLBACK = "8d1f6c3e-2b47-4a95-9e0c-5f7a31b2d846"
TEMPLATE = "session_closed_reminder"

MakeClient = Callable[[Handler], tuple[CloudApiClient, Recorder]]


@pytest.fixture
async def mocked() -> AsyncIterator[MakeClient]:
    clients: list[httpx.AsyncClient] = []

    def make(respond: Handler) -> tuple[CloudApiClient, Recorder]:
        recorder = Recorder(respond)
        client = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
        clients.append(client)
        return CloudApiClient(client, base_url=BASE_URL, api_version="v26.0"), recorder

    yield make
    for client in clients:
        await client.aclose()


async def send(client: CloudApiClient, **overrides: Any) -> SentMessage:
    kwargs: dict[str, Any] = {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": TOKEN,
        "to": CUSTOMER,
        "name": TEMPLATE,
        "language": "en_US",
        "body_parameters": ["John", "Acme Inc."],
        "callback_data": CALLBACK,
    }
    kwargs.update(overrides)
    return await client.send_template(**kwargs)


OK = answer(200, sample_json("send-response-ok.json"))


# -- the body ----------------------------------------------------------------------------------


async def test_two_parameters_make_one_body_component(mocked: MakeClient) -> None:
    client, recorder = mocked(OK)
    sent = await send(client)
    assert sent.message_id.startswith("wamid.")
    (request,) = recorder.requests
    assert str(request.url) == f"{BASE_URL}/v26.0/{PHONE_NUMBER_ID}/messages"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+15553827461",
        "biz_opaque_callback_data": CALLBACK,
        "type": "template",
        "template": {
            "name": TEMPLATE,
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "John"},
                        {"type": "text", "text": "Acme Inc."},
                    ],
                }
            ],
        },
    }


async def test_no_parameters_means_no_components(mocked: MakeClient) -> None:
    client, recorder = mocked(OK)
    await send(client, body_parameters=[], callback_data=None)
    assert json.loads(recorder.requests[0].content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+15553827461",
        "type": "template",
        "template": {"name": TEMPLATE, "language": {"code": "en_US"}},
    }


async def test_a_customer_without_number_is_addressed_by_bsuid(mocked: MakeClient) -> None:
    client, recorder = mocked(OK)
    await send(client, to=None, recipient=BSUID, body_parameters=["Maria"])
    body = json.loads(recorder.requests[0].content)
    assert body["recipient"] == BSUID and "to" not in body
    assert body["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Maria"}]}
    ]


async def test_no_recipient_is_permanent_and_sends_nothing(mocked: MakeClient) -> None:
    client, recorder = mocked(OK)
    with pytest.raises(PermanentSendError, match="no recipient"):
        await send(client, to=None, recipient="not-a-bsuid")
    assert recorder.requests == []


# -- Meta's answers ----------------------------------------------------------------------------


async def test_132001_template_missing_is_permanent(mocked: MakeClient) -> None:
    client, recorder = mocked(answer(404, meta_error(132001, "(#132001) Template does not exist")))
    with pytest.raises(PermanentSendError) as caught:
        await send(client)
    assert not isinstance(caught.value, RetryableSendError | AmbiguousSendError)
    assert (caught.value.code, caught.value.http_status) == (132001, 404)
    assert len(recorder.requests) == 1  # the client itself never repeats a send


@pytest.mark.parametrize("code", sorted(TEMPLATE_PERMANENT_CODES | {131062}))
@pytest.mark.parametrize("status", [400, 500])  # the code wins over the status
async def test_every_template_code_is_permanent(mocked: MakeClient, code: int, status: int) -> None:
    client, _ = mocked(answer(status, meta_error(code)))
    with pytest.raises(PermanentSendError) as caught:
        await send(client)
    assert (caught.value.code, caught.value.http_status) == (code, status)


def test_the_template_codes_are_the_documented_ones() -> None:
    assert {132000, 132001, 132005, 132007, 132012, 132015, 132016} == TEMPLATE_PERMANENT_CODES


@pytest.mark.parametrize(
    "respond",
    [
        answer(500, meta_error(131000)),
        answer(503, "<html>Service Unavailable</html>"),
        answer(502, ""),
        raises(httpx.ReadTimeout("no answer")),
        raises(httpx.RemoteProtocolError("peer closed connection")),
    ],
)
async def test_trouble_after_the_request_left_is_ambiguous(
    mocked: MakeClient, respond: Handler
) -> None:
    client, _ = mocked(respond)
    with pytest.raises(AmbiguousSendError):
        await send(client)


@pytest.mark.parametrize(
    ("respond", "code"),
    [
        (answer(429, "Too Many Requests", headers={"Retry-After": "4"}), None),
        (answer(400, meta_error(130429), headers={"Retry-After": "4"}), 130429),
        (answer(429, meta_error(130429), headers={"Retry-After": "4"}), 130429),
    ],
)
async def test_throttling_is_retryable(
    mocked: MakeClient, respond: Handler, code: int | None
) -> None:
    client, _ = mocked(respond)
    with pytest.raises(RetryableSendError) as caught:
        await send(client)
    assert (caught.value.code, caught.value.retry_after) == (code, 4.0)


# -- the same through the sandbox, over loopback HTTP --------------------------------------------


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[CloudApiClient, httpx.AsyncClient]]:
    """A client of a fresh sandbox on loopback, and a control client of the same sandbox."""
    async with (
        serve(create_sandbox_app(access_tokens={TOKEN})) as url,
        httpx.AsyncClient(base_url=url) as control,
        httpx.AsyncClient() as http,
    ):
        yield CloudApiClient(http, base_url=url, api_version="v26.0"), control


async def _fail(control: httpx.AsyncClient, **failure: Any) -> None:
    response = await control.post("/_sandbox/failures", json=failure)
    assert response.status_code == 201, response.text


async def _recorded(control: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await control.get("/_sandbox/messages")).json()["items"]
    return items


async def test_sandbox_records_the_template_the_client_sent(
    sandbox: tuple[CloudApiClient, httpx.AsyncClient],
) -> None:
    client, control = sandbox
    sent = await send(client)
    (item,) = await _recorded(control)
    assert item["id"] == sent.message_id
    assert (item["kind"], item["body"]) == ("template", None)
    assert item["template"] == {
        "name": TEMPLATE,
        "language": "en_US",
        "parameters": ["John", "Acme Inc."],
    }
    assert item["callback_data"] == CALLBACK


async def test_sandbox_template_error_is_permanent(
    sandbox: tuple[CloudApiClient, httpx.AsyncClient],
) -> None:
    client, control = sandbox
    await _fail(control, kind="http", status=404, code=132001, template=TEMPLATE)
    with pytest.raises(PermanentSendError) as caught:
        await send(client)
    assert (caught.value.code, caught.value.http_status) == (132001, 404)
    assert caught.value.message == "(#132001) Template does not exist"
    assert await _recorded(control) == []


async def test_sandbox_accepting_then_failing_is_ambiguous(
    sandbox: tuple[CloudApiClient, httpx.AsyncClient],
) -> None:
    client, control = sandbox
    await _fail(control, kind="accept_then_fail", status=500, template=TEMPLATE)
    with pytest.raises(AmbiguousSendError):
        await send(client)
    (item,) = await _recorded(control)  # why it is ambiguous: the template did go out
    assert (item["kind"], item["answered_status"]) == ("template", 500)


async def test_sandbox_throttling_is_retryable(
    sandbox: tuple[CloudApiClient, httpx.AsyncClient],
) -> None:
    client, control = sandbox
    await _fail(control, kind="http", status=429, code=130429, retry_after=2)
    with pytest.raises(RetryableSendError) as caught:
        await send(client)
    assert (caught.value.code, caught.value.retry_after) == (130429, 2.0)
    await send(client)  # the same request succeeds later
    assert len(await _recorded(control)) == 1
