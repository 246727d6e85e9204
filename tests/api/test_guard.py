"""``api.guard``: bodies are bounded everywhere, and the /v1 token is checked before any byte of
the body is read (docs/http-api.md#authentication, #request-bodies).

The "not read" claims are measured at the ASGI boundary: the app is called directly with a
``receive`` that counts what it hands out, the way a server would feed it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.guard import MAX_API_BODY_BYTES, MAX_API_DRAIN_BYTES, MAX_OTHER_BODY_BYTES
from boot import Resources
from core.config import Settings
from store.db import create_engine, create_sessionmaker
from store.repository import Store
from tests.api.conftest import Seeded, asgi_client, make_settings
from tests.api.support import AUTH, signed_headers
from tests.support import free_port, serve
from whatsapp.webhook import MAX_WEBHOOK_BYTES

CHUNK = 64 * 1024
TOO_LARGE = {"detail": f"body larger than {MAX_API_BODY_BYTES} bytes"}


def many_keys(size: int) -> bytes:
    """A JSON object of ``size`` bytes or more, of many small keys (expensive to parse)."""
    count = size // 10 + 1
    return b"{" + b",".join(b'"k%07d":0' % n for n in range(count)) + b"}"


@dataclass
class Exchange:
    """One request fed to the app as a server would, and what came back."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    consumed: int = 0  # body bytes the app took from ``receive``


async def call(
    app: FastAPI,
    method: str,
    path: str,
    *,
    chunks: Iterator[bytes],
    headers: dict[str, str],
) -> Exchange:
    exchange = Exchange()
    pending = next(chunks, None)

    async def receive() -> Message:
        nonlocal pending
        if pending is None:
            await asyncio.sleep(3600)  # nothing more will come: a server waits for a disconnect
            return {"type": "http.disconnect"}
        chunk, pending = pending, next(chunks, None)
        exchange.consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": pending is not None}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            exchange.status = int(message["status"])
            raw = message.get("headers") or []
            exchange.headers = {k.decode(): v.decode() for k, v in raw}
        elif message["type"] == "http.response.body":
            exchange.body += bytes(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("api.test", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    return exchange


def pieces(body: bytes, size: int = CHUNK) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def endless(total: int, size: int = CHUNK) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b" " * size


JSON = {"Content-Type": "application/json"}


# -- 401 before the body ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer wst_unknown-token"}],
    ids=["missing", "wrong", "unknown-account-token"],
)
async def test_an_unauthenticated_12_mb_json_body_is_refused_unread(
    app: FastAPI, seeded: Seeded, auth: dict[str, str]
) -> None:
    body = many_keys(12 * 1024 * 1024)
    started = time.perf_counter()
    exchange = await call(
        app,
        "PUT",
        f"/v1/accounts/{seeded.account_id}/session-settings",
        chunks=pieces(body),  # streamed: no Content-Length to refuse it by
        headers={**JSON, **auth},
    )
    assert exchange.status == 401
    assert exchange.headers["www-authenticate"] == "Bearer"
    assert json.loads(exchange.body) == {"detail": "missing or invalid bearer token"}
    assert exchange.consumed == 0
    assert time.perf_counter() - started < 0.5  # parsing it took about a second


async def test_an_unauthenticated_30_mb_body_is_refused_unread(
    app: FastAPI, seeded: Seeded
) -> None:
    exchange = await call(
        app,
        "POST",
        f"/v1/accounts/{seeded.account_id}/session-settings/preview",
        chunks=endless(30 * 1024 * 1024),
        headers=JSON,
    )
    assert (exchange.status, exchange.consumed) == (401, 0)


async def test_a_declared_oversize_body_is_413_before_the_token_is_looked_at(
    app: FastAPI, seeded: Seeded
) -> None:
    body = many_keys(12 * 1024 * 1024)
    exchange = await call(
        app,
        "PUT",
        f"/v1/accounts/{seeded.account_id}/session-settings",
        chunks=pieces(body),
        headers={**JSON, "Content-Length": str(len(body))},
    )
    assert exchange.status == 413
    assert json.loads(exchange.body) == TOO_LARGE
    # Larger than the drain bound: draining it would not make the answer readable anyway.
    assert exchange.consumed == 0


# -- 413 for authenticated callers -------------------------------------------------------------


async def test_an_oversize_body_with_content_length_is_413(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    body = json.dumps({"enabled": True, "expiry_hours": 2, "message": "x" * MAX_API_BODY_BYTES})
    response = await client.put(
        f"/v1/accounts/{seeded.account_id}/session-settings", content=body, headers=JSON
    )
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def test_an_oversize_streamed_body_is_cut_off(app: FastAPI, seeded: Seeded) -> None:
    total = 30 * 1024 * 1024
    exchange = await call(
        app,
        "PUT",
        f"/v1/accounts/{seeded.account_id}/session-settings",
        chunks=endless(total),
        headers={**JSON, **AUTH},
    )
    assert exchange.status == 413
    assert json.loads(exchange.body) == TOO_LARGE
    # Read past the limit only to drain what a client may still be sending, up to a bound.
    assert MAX_API_BODY_BYTES < exchange.consumed <= MAX_API_DRAIN_BYTES + 2 * CHUNK < total


async def test_an_oversize_streamed_body_through_httpx(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    async def stream() -> AsyncIterator[bytes]:
        for chunk in endless(2 * MAX_API_BODY_BYTES, 4096):
            yield chunk

    request = client.build_request(
        "POST",
        f"/v1/accounts/{seeded.account_id}/session-settings/preview",
        content=stream(),
        headers=JSON,
    )
    assert "content-length" not in request.headers
    response = await client.send(request)
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def test_an_account_tokens_oversize_body_is_413_too(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    path = f"/v1/accounts/{seeded.account_id}"
    token = (await client.post(f"{path}/tokens")).json()["token"]
    response = await client.put(
        f"{path}/session-settings",
        content=b" " * (MAX_API_BODY_BYTES + 1),
        headers={**JSON, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 413


async def test_the_largest_legitimate_body_fits(client: httpx.AsyncClient, seeded: Seeded) -> None:
    # 1000 characters that JSON escapes to 12 bytes each (a surrogate pair each).
    message = "Hi {contact_firstname} " + "😊" * (1000 - 23)
    body = json.dumps({"enabled": True, "expiry_hours": 5, "message": message})
    assert len(body) > 10_000
    response = await client.put(
        f"/v1/accounts/{seeded.account_id}/session-settings", content=body, headers=JSON
    )
    assert response.status_code == 200, response.text


def _urllib_put(url: str, body: bytes) -> tuple[int, bytes]:
    """A plain HTTP/1.1 client that sends the whole body before it reads, then closes."""
    request = urllib.request.Request(
        url, data=body, method="PUT", headers={"Connection": "close", **JSON, **AUTH}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _raw_chunked_put(url: str, path: str, total: int) -> bytes:
    """Send a chunked body (no Content-Length) in full over a raw socket, then read."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: {parts.hostname}\r\nConnection: close\r\n"
        f"Authorization: {AUTH['Authorization']}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"%x\r\n" % CHUNK + b" " * CHUNK + b"\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + chunk * (total // CHUNK) + b"0\r\n\r\n")
        answer = b""
        while data := sock.recv(65536):
            answer += data
    return answer


async def test_a_413_that_even_urllib_and_a_raw_socket_can_read(
    app: FastAPI, seeded: Seeded
) -> None:
    path = f"/v1/accounts/{seeded.account_id}/session-settings"
    async with serve(app) as url:
        status, answer = await asyncio.to_thread(_urllib_put, url + path, b" " * 1_000_000)
        raw = await asyncio.to_thread(_raw_chunked_put, url, path, 512 * 1024)
    assert status == 413
    assert json.loads(answer) == TOO_LARGE
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body) == TOO_LARGE


# -- outside /v1 ----------------------------------------------------------------------------------


async def test_other_routes_refuse_a_body_over_the_general_limit(anon: httpx.AsyncClient) -> None:
    response = await anon.post("/healthz", content=b" " * (MAX_OTHER_BODY_BYTES + 1))
    assert response.status_code == 413
    assert response.json() == {"detail": f"body larger than {MAX_OTHER_BODY_BYTES} bytes"}
    # A small body reaches the route (which takes none).
    assert (await anon.post("/healthz", content=b"{}")).status_code == 405


async def test_the_webhook_still_refuses_its_own_oversize_bodies(
    anon: httpx.AsyncClient,
) -> None:
    body = b"x" * (MAX_WEBHOOK_BYTES + 1)
    response = await anon.post("/webhooks/whatsapp", content=body, headers=signed_headers(body))
    assert response.status_code == 413
    assert response.json() == {"detail": f"body larger than {MAX_WEBHOOK_BYTES} bytes"}
    # Refused by the route itself, which counts what it refuses.
    metrics = (await anon.get("/metrics")).text
    assert 'whatsapp_webhook_requests_total{result="too_large"} 1.0' in metrics


# -- while starting, and with the database down -------------------------------------------------


async def test_while_starting_the_admin_token_still_compares(settings: Settings) -> None:
    app = create_app(settings)  # no resources: the lifespan has not opened them
    async with asgi_client(app, auth=False) as anon:
        admin = await anon.get("/v1/accounts/acme", headers=AUTH)
        account_token = await anon.get(
            "/v1/accounts/acme", headers={"Authorization": "Bearer wst_some-account-token"}
        )
        wrong = await anon.get("/v1/accounts/acme", headers={"Authorization": "Bearer nope"})
    assert admin.status_code == 503
    assert account_token.status_code == 503
    assert account_token.json() == {"detail": "the service is starting, retry later"}
    assert wrong.status_code == 401


async def test_an_account_token_with_the_database_down_is_503(
    ts_env: WorkflowEnvironment, http: httpx.AsyncClient, tmp_path: object
) -> None:
    down = create_engine(f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none")
    try:
        app = create_app(
            make_settings("sqlite+aiosqlite:///:memory:"),
            resources=Resources(
                store=Store(create_sessionmaker(down)), temporal=ts_env.client, http=http
            ),
        )
        async with asgi_client(app, auth=False) as anon:
            response = await anon.get(
                "/v1/accounts/acme", headers={"Authorization": "Bearer wst_some-account-token"}
            )
    finally:
        await down.dispose()
    assert response.status_code == 503
    assert response.json() == {"detail": "database is unavailable, retry later"}
