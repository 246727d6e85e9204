"""The sandbox Graph API, driven through the real CloudApiClient."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from whatsapp.client import CloudApiClient, SentMessage
from whatsapp.errors import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
    WindowClosedError,
)
from whatsapp.sandbox import create_sandbox_app, sandbox_state

TOKEN = "sandbox-token"
PHONE_NUMBER_ID = "106540352242922"
BASE = "http://sandbox.test"


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


async def send(client: CloudApiClient, **overrides: Any) -> SentMessage:
    kwargs: dict[str, Any] = {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": TOKEN,
        "to": "16505551234",
        "body": "Hi John! Still interested?",
        "callback_data": "reminder-1",
    }
    kwargs.update(overrides)
    return await client.send_text(**kwargs)


async def fail(http: httpx.AsyncClient, **failure: Any) -> None:
    response = await http.post("/_sandbox/failures", json=failure)
    assert response.status_code == 201, response.text


async def recorded(http: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await http.get("/_sandbox/messages", params=params)
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_send_is_recorded_and_answered_like_meta(
    client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    sent = await send(client)
    (item,) = await recorded(http)
    assert sent == SentMessage(message_id=item["id"])
    assert item["id"].startswith("wamid.")
    assert item["to"] == "+16505551234"
    assert item["wa_id"] == "16505551234"
    assert item["body"] == "Hi John! Still interested?"
    assert item["callback_data"] == "reminder-1"
    assert item["phone_number_id"] == PHONE_NUMBER_ID
    assert item["answered_status"] == 200
    assert item["received_at"].endswith(("Z", "+00:00"))
    assert TOKEN not in str(item)


async def test_a_bsuid_recipient_is_recorded_as_such(
    client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    await send(client, to=None, recipient="US.13491208655302741918")
    await send(client)
    by_bsuid, by_number = await recorded(http)
    assert (by_bsuid["addressed_by"], by_bsuid["to"], by_bsuid["wa_id"], by_bsuid["user_id"]) == (
        "recipient",
        None,
        None,
        "US.13491208655302741918",
    )
    assert (by_number["addressed_by"], by_number["to"], by_number["user_id"]) == (
        "to",
        "+16505551234",
        None,
    )


async def test_send_needs_to_or_a_well_formed_recipient(http: httpx.AsyncClient) -> None:
    for addressed in ({}, {"recipient": "not a bsuid"}, {"recipient": "US."}):
        response = await http.post(
            f"/v26.0/{PHONE_NUMBER_ID}/messages",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"messaging_product": "whatsapp", "text": {"body": "hi"}} | addressed,
        )
        assert response.status_code == 400, addressed
        assert response.json()["error"]["code"] == 100
    assert await recorded(http) == []


async def test_success_body_has_meta_shape(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"/v26.0/{PHONE_NUMBER_ID}/messages",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={
            "messaging_product": "whatsapp",
            "to": "+16505551234",
            "type": "text",
            "text": {"body": "hello there"},
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+16505551234", "wa_id": "16505551234"}]
    assert [set(m) for m in body["messages"]] == [{"id"}]


async def test_list_filters_by_phone_number_and_keeps_order(
    client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    for n, number_id in enumerate(["111", "222", "111"]):
        await send(client, phone_number_id=number_id, body=f"message {n}")
    assert [m["body"] for m in await recorded(http)] == ["message 0", "message 1", "message 2"]
    assert [m["body"] for m in await recorded(http, phone_number_id="111")] == [
        "message 0",
        "message 2",
    ]
    assert (await http.delete("/_sandbox/messages")).status_code == 204
    assert await recorded(http) == []


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
async def test_missing_or_unknown_token_is_190(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await http.post(f"/v26.0/{PHONE_NUMBER_ID}/messages", headers=headers, json={})
    assert response.status_code == 401
    error = response.json()["error"]
    assert (error["code"], error["type"]) == (190, "OAuthException")
    assert error["fbtrace_id"]


async def test_client_sees_bad_token_as_permanent(client: CloudApiClient) -> None:
    with pytest.raises(PermanentSendError) as caught:
        await send(client, access_token="expired")
    assert (caught.value.code, caught.value.http_status) == (190, 401)


async def test_any_bearer_when_no_tokens_configured() -> None:
    app = create_sandbox_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        client = CloudApiClient(http, base_url=BASE, api_version="v26.0")
        await send(client, access_token="anything")
        with pytest.raises(PermanentSendError):
            await send(client, access_token=" ")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "body"),
        ({"to": "+16505551234", "type": "text", "text": {"body": "x"}}, "messaging_product"),
        ({"messaging_product": "whatsapp", "to": "+1", "text": {"body": "x"}}, "to"),
        ({"messaging_product": "whatsapp", "to": "+16505551234"}, "text"),
        ({"messaging_product": "whatsapp", "to": "16505551234", "text": {}}, "text['body']"),
        (
            {"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "x" * 4097}},
            "text['body']",
        ),
        (
            {"messaging_product": "whatsapp", "to": "16505551234", "type": "image", "text": {}},
            "type",
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": "16505551234",
                "text": {"body": "x"},
                "biz_opaque_callback_data": "c" * 513,
            },
            "biz_opaque_callback_data",
        ),
    ],
)
async def test_bad_body_is_100(http: httpx.AsyncClient, body: Any, problem: str) -> None:
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = await http.post(
        f"/v26.0/{PHONE_NUMBER_ID}/messages",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        **kwargs,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100
    assert problem in error["error_data"]["details"]
    assert await recorded(http) == []


async def test_empty_text_through_client_is_permanent(client: CloudApiClient) -> None:
    with pytest.raises(PermanentSendError) as caught:
        await send(client, body="")
    assert caught.value.code == 100


async def test_injected_failures_are_consumed_in_order(
    client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    await fail(http, kind="http", status=400, code=131047)
    await fail(http, kind="http", status=400, code=130429, retry_after=3)
    await fail(http, kind="http", status=503, times=2)  # plain-text error page
    await fail(http, kind="http", status=500, code=190)
    pending = (await http.get("/_sandbox/failures")).json()["items"]
    assert [f["status"] for f in pending] == [400, 400, 503, 503, 500]

    with pytest.raises(WindowClosedError) as window:
        await send(client)
    assert window.value.message == "(#131047) Re-engagement message"
    with pytest.raises(RetryableSendError) as throttled:
        await send(client)
    assert (throttled.value.code, throttled.value.retry_after) == (130429, 3.0)
    for _ in range(2):
        with pytest.raises(AmbiguousSendError) as unavailable:  # Meta may have it: 5xx
            await send(client)
        assert (unavailable.value.code, unavailable.value.http_status) == (None, 503)
    with pytest.raises(PermanentSendError):  # the code wins over the 500
        await send(client)

    await send(client)  # queue drained
    assert len(await recorded(http)) == 1


async def test_refused_sends_do_not_consume_failures(
    client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    await fail(http, kind="http", status=503, code=131000)
    with pytest.raises(PermanentSendError):
        await send(client, access_token="wrong")
    with pytest.raises(PermanentSendError):
        await send(client, body="")
    with pytest.raises(AmbiguousSendError):
        await send(client)


async def test_accept_then_fail_records_the_message(
    client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    await fail(http, kind="accept_then_fail", status=500)
    with pytest.raises(AmbiguousSendError):
        await send(client)
    (item,) = await recorded(http)
    assert item["answered_status"] == 500
    # Why a 5xx is ambiguous: the "failed" send did reach the customer.
    await send(client)
    assert len(await recorded(http)) == 2


async def test_accept_then_fail_with_a_meta_code(
    client: CloudApiClient, http: httpx.AsyncClient
) -> None:
    await fail(http, kind="accept_then_fail", status=503, code=133004)
    with pytest.raises(AmbiguousSendError) as caught:
        await send(client)
    assert caught.value.code == 133004
    assert len(await recorded(http)) == 1


async def test_delay_then_success(client: CloudApiClient, http: httpx.AsyncClient) -> None:
    await fail(http, kind="delay", seconds=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await send(client)
    assert loop.time() - started >= 0.05
    assert len(await recorded(http)) == 1


@pytest.mark.parametrize(
    "failure",
    [
        {},
        {"kind": "explode"},
        {"kind": "http", "status": 200},
        {"kind": "http", "status": 500, "times": 0},
        {"kind": "delay"},
        [1],
    ],
)
async def test_bad_failure_requests_are_422(http: httpx.AsyncClient, failure: Any) -> None:
    response = await http.post("/_sandbox/failures", json=failure)
    assert response.status_code == 422
    assert "detail" in response.json()
    assert (await http.get("/_sandbox/failures")).json() == {"items": []}


async def test_failures_can_be_cleared(client: CloudApiClient, http: httpx.AsyncClient) -> None:
    await fail(http, kind="http", status=500, times=3)
    assert (await http.delete("/_sandbox/failures")).status_code == 204
    await send(client)


async def test_instances_do_not_share_state(app: FastAPI, client: CloudApiClient) -> None:
    other = create_sandbox_app(access_tokens={TOKEN})
    await send(client)
    assert len(sandbox_state(app).messages) == 1
    assert sandbox_state(other).messages == []


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app on a real socket: ASGITransport cannot time out, a real server can."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_delay_past_the_client_timeout_is_ambiguous(app: FastAPI) -> None:
    impatient = httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.1))
    async with served(app) as url, httpx.AsyncClient(base_url=url) as http, impatient:
        await fail(http, kind="delay", seconds=0.3)
        client = CloudApiClient(impatient, base_url=url, api_version="v26.0")
        with pytest.raises(AmbiguousSendError):
            await send(client)
        # The sandbox, like Meta, still processes the request the client gave up on.
        for _ in range(100):
            if await recorded(http):
                break
            await asyncio.sleep(0.02)
        assert len(await recorded(http)) == 1
