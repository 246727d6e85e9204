"""The API's own access log (api/access_log.py) and the error logs name no customer: a number or
BSUID in a path or query is redacted, error lines show the route's template."""

from __future__ import annotations

import logging

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from temporalio.client import Client

from api.app import main
from core.config import Settings
from core.redact import redact_text
from store.repository import Store
from tests.api.conftest import Seeded, asgi_client, build_app
from tests.api.support import KEY_SECRET
from tests.support import free_port

NUMBER = "15550000123"
BSUID = "US.13491208655302741918"


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "api.access"]


def _service_lines(caplog: pytest.LogCaptureFixture) -> str:
    # httpx logs the test client's own requests, whose URLs of course name the customer.
    return "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx")


async def test_every_request_gets_one_redacted_line(
    client: httpx.AsyncClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = seeded.account_id
    await client.put(f"/v1/accounts/{account}/contacts/{NUMBER}", json={"first_name": "Zed"})
    await client.get(f"/v1/accounts/{account}/reminders", params={"wa_id": BSUID})
    await client.get(f"/v1/accounts/{account}/nothing-here/{NUMBER}")

    lines = _access_lines(caplog)
    assert len(lines) == 3, lines
    number = redact_text(NUMBER, secret=KEY_SECRET, account_id=account)
    bsuid = redact_text(BSUID, secret=KEY_SECRET, account_id=account)
    assert lines[0].startswith(f"PUT /v1/accounts/{account}/contacts/{number} 201 ")
    assert lines[1].startswith(f"GET /v1/accounts/{account}/reminders?wa_id={bsuid} 200 ")
    assert lines[2].startswith(f"GET /v1/accounts/{account}/nothing-here/{number} 404 ")
    assert lines[0].endswith("ms")
    everything = _service_lines(caplog)
    assert NUMBER not in everything and BSUID not in everything


async def test_rejected_requests_are_logged_too(
    anon: httpx.AsyncClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answer = await anon.get(f"/v1/accounts/{seeded.account_id}/sessions/{NUMBER}")
    assert answer.status_code == 401
    [line] = _access_lines(caplog)
    assert " 401 " in line and NUMBER not in line


async def test_error_lines_show_the_route_template(
    settings: Settings,
    store: Store,
    temporal_down: Client,
    http: httpx.AsyncClient,
    seeded: Seeded,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app: FastAPI = build_app(settings, store=store, temporal=temporal_down, http=http)
    caplog.set_level(logging.DEBUG)
    async with asgi_client(app) as client:
        answer = await client.get(f"/v1/accounts/{seeded.account_id}/sessions/{NUMBER}")
    assert answer.status_code == 503, answer.text
    errors = [r.getMessage() for r in caplog.records if r.name == "api.errors"]
    assert errors, caplog.messages
    assert all("/v1/accounts/{account_id}/sessions/{wa_id}" in line for line in errors), errors
    assert NUMBER not in _service_lines(caplog)


def test_main_turns_uvicorns_access_log_off(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    monkeypatch.setenv("API_PORT", str(free_port()))
    main()
    assert seen["access_log"] is False


async def test_a_bug_answers_json_500_and_its_log_quotes_no_message(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom/{wa_id}")
    async def boom(wa_id: str) -> None:
        raise RuntimeError(f"could not handle {wa_id}")

    caplog.set_level(logging.DEBUG)
    # No raise_app_exceptions: a server sees only what the app answers, and nothing re-raised.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        answer = await client.get(f"/boom/{NUMBER}")
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal server error"}
    errors = [r.getMessage() for r in caplog.records if r.name == "api.errors"]
    assert any("unhandled RuntimeError (message withheld)" in line for line in errors), errors
    assert NUMBER not in _service_lines(caplog)
    assert not any(r.exc_info for r in caplog.records)
