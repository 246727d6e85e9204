"""CloudApiClient against httpx.MockTransport, on Meta's real answer shapes."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.meta_samples import sample_json
from whatsapp.client import CloudApiClient, SentMessage, parse_retry_after
from whatsapp.errors import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
    WhatsAppError,
    WindowClosedError,
)

BASE_URL = "https://graph.example.com"
TOKEN = "EAAG-secret-token"
PHONE_NUMBER_ID = "110273948561027"
CUSTOMER = "15553827461"
BSUID = "US.13491208655302741918"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers with a fixed response and keeps the requests."""

    def __init__(self, respond: Handler) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)


def answer(status: int, body: Any = None, **kwargs: Any) -> Handler:
    def respond(request: httpx.Request) -> httpx.Response:
        if body is None or isinstance(body, str | bytes):
            return httpx.Response(status, content=body or b"", **kwargs)
        return httpx.Response(status, json=body, **kwargs)

    return respond


def meta_error(code: int, message: str = "m", **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": "OAuthException", "code": code, **extra}}


def raises(exc: Exception) -> Handler:
    def respond(request: httpx.Request) -> httpx.Response:
        raise exc

    return respond


@pytest.fixture
async def http() -> AsyncIterator[Callable[[Handler], tuple[CloudApiClient, Recorder]]]:
    clients: list[httpx.AsyncClient] = []

    def make(respond: Handler) -> tuple[CloudApiClient, Recorder]:
        recorder = Recorder(respond)
        client = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
        clients.append(client)
        return CloudApiClient(client, base_url=BASE_URL + "/", api_version="v26.0"), recorder

    yield make
    for client in clients:
        await client.aclose()


MakeClient = Callable[[Handler], tuple[CloudApiClient, Recorder]]


async def send(client: CloudApiClient, **overrides: Any) -> SentMessage:
    kwargs: dict[str, Any] = {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": TOKEN,
        "to": CUSTOMER,
        "body": "Hi John! Still interested?",
        "callback_data": "8d1f6c3e-2b47-4a95-9e0c-5f7a31b2d846",
    }
    kwargs.update(overrides)
    return await client.send_text(**kwargs)


async def test_success_returns_message_id(http: MakeClient) -> None:
    client, _ = http(answer(200, sample_json("send-response-ok.json")))
    sent = await send(client)
    assert sent == SentMessage(
        message_id="wamid.HBgLMTU1NTM4Mjc0NjEVAgARGBI2NDU3RTVEQTk3QUQxNUYzMEYA"
    )


async def test_request_is_exactly_what_meta_expects(http: MakeClient) -> None:
    client, recorder = http(answer(200, sample_json("send-response-ok.json")))
    await send(client)
    (request,) = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/v26.0/{PHONE_NUMBER_ID}/messages"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+15553827461",
        "type": "text",
        "text": {"preview_url": False, "body": "Hi John! Still interested?"},
        "biz_opaque_callback_data": "8d1f6c3e-2b47-4a95-9e0c-5f7a31b2d846",
    }


async def test_no_callback_data_omits_the_key_and_plus_is_not_doubled(http: MakeClient) -> None:
    client, recorder = http(answer(200, sample_json("send-response-ok.json")))
    await send(client, to="+15553827461", callback_data=None)
    body = json.loads(recorder.requests[0].content)
    assert body["to"] == "+15553827461"
    assert "biz_opaque_callback_data" not in body


async def test_a_customer_without_number_is_addressed_by_recipient(http: MakeClient) -> None:
    client, recorder = http(answer(200, sample_json("send-response-ok.json")))
    await send(client, to=None, recipient=BSUID)
    body = json.loads(recorder.requests[0].content)
    assert body["recipient"] == BSUID and "to" not in body
    assert body["recipient_type"] == "individual" and body["type"] == "text"


async def test_the_number_wins_over_the_bsuid(http: MakeClient) -> None:
    client, recorder = http(answer(200, sample_json("send-response-ok.json")))
    await send(client, recipient=BSUID)
    body = json.loads(recorder.requests[0].content)
    assert body["to"] == "+15553827461" and "recipient" not in body


@pytest.mark.parametrize("recipient", [None, "", "us.123", "US.12-3", "15553827461"])
async def test_no_number_and_no_valid_bsuid_is_permanent_and_sends_nothing(
    http: MakeClient, recipient: str | None
) -> None:
    client, recorder = http(answer(200, sample_json("send-response-ok.json")))
    with pytest.raises(PermanentSendError, match="no recipient"):
        await send(client, to=None, recipient=recipient)
    assert recorder.requests == []


async def test_131062_bsuid_recipient_not_supported_is_permanent(http: MakeClient) -> None:
    client, _ = http(answer(400, sample_json("send-error-131062.json")))
    with pytest.raises(PermanentSendError) as caught:
        await send(client, to=None, recipient=BSUID)
    assert (caught.value.code, caught.value.http_status) == (131062, 400)
    assert "not supported" in caught.value.message


async def test_phone_number_id_cannot_escape_the_path(http: MakeClient) -> None:
    client, recorder = http(answer(200, sample_json("send-response-ok.json")))
    await send(client, phone_number_id="../me")
    assert recorder.requests[0].url.raw_path == b"/v26.0/..%2Fme/messages"


@pytest.mark.parametrize("to", ["", "+", "1555 382 7461", "abc", "١٢٣"])
async def test_recipient_must_be_digits(http: MakeClient, to: str) -> None:
    client, recorder = http(answer(200, sample_json("send-response-ok.json")))
    with pytest.raises(PermanentSendError):
        await send(client, to=to)
    assert recorder.requests == []


async def test_131047_fixture_is_window_closed(http: MakeClient) -> None:
    client, _ = http(answer(400, sample_json("send-error-131047.json")))
    with pytest.raises(WindowClosedError) as caught:
        await send(client)
    error = caught.value
    assert (error.code, error.http_status, error.fbtrace_id) == (131047, 400, "Dk4vRp8WmQz")
    assert error.message == "(#131047) Re-engagement message"
    assert error.details is not None and error.details.startswith("More than 24 hours")


async def test_130429_fixture_is_retryable(http: MakeClient) -> None:
    client, _ = http(answer(400, sample_json("send-error-130429.json")))
    with pytest.raises(RetryableSendError) as caught:
        await send(client)
    assert caught.value.code == 130429


async def test_190_fixture_is_permanent_with_subcode(http: MakeClient) -> None:
    client, _ = http(answer(401, sample_json("send-error-190.json")))
    with pytest.raises(PermanentSendError) as caught:
        await send(client)
    assert (caught.value.code, caught.value.error_subcode) == (190, 463)


@pytest.mark.parametrize("code", [130429, 131056, 4, 80007])
async def test_throttling_codes_are_retryable(http: MakeClient, code: int) -> None:
    client, _ = http(answer(400, meta_error(code)))
    with pytest.raises(RetryableSendError) as caught:
        await send(client)
    assert caught.value.code == code


@pytest.mark.parametrize("code", [1, 2, 131000, 131016, 133004, 131057])
async def test_trouble_on_metas_side_is_ambiguous(http: MakeClient, code: int) -> None:
    client, _ = http(answer(400, meta_error(code)))
    with pytest.raises(AmbiguousSendError) as caught:
        await send(client)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "code", [131026, 131031, 131048, 131062, 133010, 368, 100, 190, 0, 3, 10, 200, 299]
)
@pytest.mark.parametrize("status", [400, 500])  # the code wins over the status
async def test_permanent_codes(http: MakeClient, code: int, status: int) -> None:
    client, _ = http(answer(status, meta_error(code)))
    with pytest.raises(PermanentSendError) as caught:
        await send(client)
    assert (caught.value.code, caught.value.http_status) == (code, status)


async def test_code_sent_as_string_is_understood(http: MakeClient) -> None:
    client, _ = http(answer(400, meta_error("131047")))  # type: ignore[arg-type]
    with pytest.raises(WindowClosedError):
        await send(client)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_with_json_is_ambiguous(http: MakeClient, status: int) -> None:
    client, _ = http(answer(status, meta_error(999_999, "Unknown error")))
    with pytest.raises(AmbiguousSendError) as caught:
        await send(client)
    assert (caught.value.code, caught.value.http_status) == (999_999, status)


@pytest.mark.parametrize("body", ["<html>Bad Gateway</html>", "", '{"error": "oops"}', "[1]"])
async def test_5xx_without_meta_json_is_ambiguous(http: MakeClient, body: str) -> None:
    client, _ = http(answer(502, body))
    with pytest.raises(AmbiguousSendError) as caught:
        await send(client)
    assert (caught.value.code, caught.value.http_status) == (None, 502)


@pytest.mark.parametrize("body", ["Bad Request", "", meta_error(987_654)])
async def test_4xx_without_known_code_is_permanent(http: MakeClient, body: Any) -> None:
    client, _ = http(answer(404, body))
    with pytest.raises(PermanentSendError):
        await send(client)


async def test_429_with_retry_after(http: MakeClient) -> None:
    client, _ = http(answer(429, "Too Many Requests", headers={"Retry-After": "7"}))
    with pytest.raises(RetryableSendError) as caught:
        await send(client)
    assert (caught.value.http_status, caught.value.retry_after) == (429, 7.0)


async def test_retry_after_is_kept_with_a_meta_code(http: MakeClient) -> None:
    client, _ = http(answer(400, meta_error(130429), headers={"Retry-After": "1.5"}))
    with pytest.raises(RetryableSendError) as caught:
        await send(client)
    assert caught.value.retry_after == 1.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("30", 30.0),
        (" 2.5 ", 2.5),
        ("-4", 0.0),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.PoolTimeout("no connection free"),
        httpx.ProxyError("proxy down"),
    ],
)
async def test_failures_before_sending_are_retryable(http: MakeClient, exc: Exception) -> None:
    client, _ = http(raises(exc))
    with pytest.raises(RetryableSendError) as caught:
        await send(client)
    assert caught.value.http_status is None
    assert caught.value.__cause__ is exc


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("no answer"),
        httpx.WriteTimeout("stuck writing"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.LocalProtocolError("odd"),
    ],
)
async def test_failures_after_sending_are_ambiguous(http: MakeClient, exc: Exception) -> None:
    client, _ = http(raises(exc))
    with pytest.raises(AmbiguousSendError):
        await send(client)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        {},
        [],
        {"messages": []},
        {"messages": [{}]},
        {"messages": [{"id": ""}]},
        {"messages": [{"id": 5}]},
        {"messages": "wamid.X"},
    ],
)
async def test_success_without_message_id_is_ambiguous(http: MakeClient, body: Any) -> None:
    client, _ = http(answer(200, body))
    with pytest.raises(AmbiguousSendError):
        await send(client)


async def test_success_without_contacts_still_counts(http: MakeClient) -> None:
    client, _ = http(answer(200, {"messages": [{"id": "wamid.X"}], "contacts": [{"wa_id": 1}]}))
    assert await send(client) == SentMessage(message_id="wamid.X")


async def test_unsupported_scheme_is_permanent() -> None:
    async with httpx.AsyncClient() as raw:
        client = CloudApiClient(raw, base_url="ftp://graph.example.com", api_version="v26.0")
        with pytest.raises(PermanentSendError):
            await send(client)


async def test_non_ascii_token_is_permanent_and_not_echoed(http: MakeClient) -> None:
    client, recorder = http(answer(200, sample_json("send-response-ok.json")))
    with pytest.raises(PermanentSendError) as caught:
        await send(client, access_token="tökén")
    assert "tökén" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert recorder.requests == []


@pytest.mark.parametrize(
    "respond",
    [
        answer(400, sample_json("send-error-131047.json")),
        answer(503, "down"),
        raises(httpx.ConnectError("refused")),
        raises(httpx.ReadTimeout("slow")),
        answer(200, {}),
    ],
)
async def test_token_and_phone_number_never_logged(
    http: MakeClient, respond: Handler, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = http(respond)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WhatsAppError) as caught:
        await send(client)
    for secret in (TOKEN, CUSTOMER):
        assert secret not in caplog.text
        assert secret not in str(caught.value)
