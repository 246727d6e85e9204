"""Property: no request generated from the OpenAPI schema makes the API answer a server error
(docs/http-api.md#errors-and-status-codes).

Schemathesis derives the requests from the document FastAPI serves at ``/openapi.json`` (loaded
with ``from_dict(app.openapi())``, checked against the served one below: ``from_asgi`` would run
the lifespan of a resource-less app, which migrates and connects to the configured database and
Temporal). Both generation modes run, positive cases that fit the schema and negative ones that
break it (wrong types and patterns, missing or malformed bodies), plus schemathesis' coverage
cases (boundaries, unexpected methods). Every request carries the test API token, except the
coverage probes that leave the ``Authorization`` header out on purpose (401). Path parameters
are the generated ones (unknown accounts: 404) or the same with the ids of an account seeded per
test, so the handlers behind the account lookup are reached too.

Requests go through ``httpx.ASGITransport`` in the test's event loop, the one the store, the
Temporal client and the httpx client of the app live in (schemathesis' own ASGI client would run
the app on an event loop thread of its own). The webhook POST goes unsigned, as generated: 401 is
its answer; the signed path has its Hypothesis fuzz test in ``test_webhook_fuzz.py``.

Left out: ``GET /v1/sandbox/messages``, whose handler asks the sandbox Graph API over the network
when ``SANDBOX_URL`` is set. The one server error allowed is the documented 501 of listing
sessions, which the time-skipping test server's missing visibility API causes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from api.app import create_app
from store.repository import Store
from tests.api.conftest import asgi_client, make_settings
from tests.api.support import AUTH

ACCOUNT_ID = "acct-openapi"
PHONE_NUMBER_ID = "15550001234"
WA_ID = "16505551234"
SEEDED_PATH = {"account_id": ACCOUNT_ID, "wa_id": WA_ID}

# The only server errors allowed, by operation: the time-skipping test server has no visibility
# API, so listing the seeded account's sessions is a documented 501 here (a 200 on a dev server).
ALLOWED_SERVER_ERRORS = {"GET /v1/accounts/{account_id}/sessions": {501}}

# The schema only: this app never serves a request, so its settings need no real database.
OPENAPI = create_app(make_settings("sqlite+aiosqlite:///:memory:")).openapi()

schema = schemathesis.openapi.from_dict(OPENAPI).exclude(path="/v1/sandbox/messages")


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: Any
) -> st.SearchStrategy[Any]:
    """The generated path parameters, or the same with the seeded account's ids."""
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    seeded = {name: value for name, value in SEEDED_PATH.items() if name in path_parameters}
    return st.sampled_from([{**path_parameters, **seeded}, path_parameters])


@pytest.fixture
async def seeded_account(store: Store) -> None:
    await store.accounts.upsert(
        account_id=ACCOUNT_ID,
        company_name="Schemathesis Inc.",
        phone_number_id=PHONE_NUMBER_ID,
        access_token="EAAG-openapi-token",
    )


@pytest.fixture
async def api(app: FastAPI, seeded_account: None) -> AsyncIterator[httpx.AsyncClient]:
    """The API, authenticated, with the account of ``ACCOUNT_ID`` in its store."""
    async with asgi_client(app) as client:
        yield client


def _request(case: schemathesis.Case[Any]) -> httpx.Request:
    """The case as an authenticated ``httpx`` request (schemathesis serializes for ``requests``)."""
    kwargs = case.as_transport_kwargs(base_url="http://api.test", headers=AUTH)
    headers = dict(kwargs["headers"])
    if kwargs.get("cookies"):
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items())
    content: bytes | str | None = None
    if "json" in kwargs:
        content = json.dumps(kwargs["json"]).encode()
    elif "data" in kwargs:
        data = kwargs["data"]
        assert isinstance(data, (bytes, str)), f"unexpected body: {data!r}"
        content = data
    unexpected = set(kwargs) - {"method", "url", "headers", "params", "cookies", "json", "data"}
    assert not unexpected, f"cannot translate {unexpected} to httpx"
    return httpx.Request(
        kwargs["method"], kwargs["url"], params=kwargs["params"], headers=headers, content=content
    )


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_no_server_error(case: schemathesis.Case[Any], api: httpx.AsyncClient) -> None:
    request = _request(case)
    response = await api.send(request)
    if response.status_code in ALLOWED_SERVER_ERRORS.get(case.operation.label, set()):
        return
    assert response.status_code < 500, (
        f"{request.method} {request.url} {request.content!r} -> "
        f"{response.status_code} {response.text}"
    )
    case.validate_response(response, checks=[not_a_server_error])


async def test_schema_is_the_served_one(api: httpx.AsyncClient) -> None:
    """The schema the cases come from is the one ``/openapi.json`` serves."""
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == OPENAPI
