"""Account tokens: managed with the API token only, stored hashed, confined to their account.

An account token reaches its own account's routes; another account answers exactly as if it did
not exist (404, or 403 for the PUT that would create it); token management and every /v1 route
outside the accounts answer 403; a revoked token is refused with 401 from the next request on.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select

from core.api_tokens import TOKEN_PREFIX
from store.models import AccountRow, ApiTokenRow
from store.repository import Store
from tests.api.conftest import Seeded, asgi_client

NUMBER = "16505551234"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_account(client: httpx.AsyncClient) -> str:
    account_id = f"acct-{uuid.uuid4().hex[:10]}"
    created = await client.put(
        f"/v1/accounts/{account_id}",
        json={
            "company_name": "Other Ltd.",
            "phone_number_id": str(uuid.uuid4().int % 10**15),
            "access_token": "EAAG-other",
        },
    )
    assert created.status_code == 201, created.text
    return account_id


async def create_token(client: httpx.AsyncClient, account_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/v1/accounts/{account_id}/tokens", json=body or None)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
async def tenant(
    app: FastAPI, client: httpx.AsyncClient, seeded: Seeded
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with a fresh token of the ``seeded`` account (and nothing else)."""
    token = (await create_token(client, seeded.account_id))["token"]
    async with asgi_client(app, auth=False) as tenant:
        tenant.headers.update(bearer(token))
        yield tenant


# -- managing tokens -------------------------------------------------------------------------


async def test_a_token_is_shown_once_and_stored_as_its_hash(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    created = await create_token(client, seeded.account_id, label="shop backend")
    token = created["token"]
    assert token.startswith(TOKEN_PREFIX) and len(token) >= 40
    assert created["account_id"] == seeded.account_id
    assert created["label"] == "shop backend"
    assert created["revoked_at"] is None and created["created_at"]

    async with store._transactions.read() as tx:  # the row itself, as the database holds it
        row = await tx.scalar(
            select(ApiTokenRow).where(ApiTokenRow.token_id == created["token_id"])
        )
    assert row is not None
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {row.token_id, row.token_hash, row.label}

    listed = await client.get(f"/v1/accounts/{seeded.account_id}/tokens")
    assert listed.status_code == 200
    assert [item["token_id"] for item in listed.json()["items"]] == [created["token_id"]]
    assert token not in listed.text and row.token_hash not in listed.text
    assert set(listed.json()["items"][0]) == {
        "token_id",
        "account_id",
        "label",
        "created_at",
        "revoked_at",
    }


async def test_two_tokens_differ_and_a_body_is_optional(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    first = await client.post(f"/v1/accounts/{seeded.account_id}/tokens")
    second = await client.post(f"/v1/accounts/{seeded.account_id}/tokens", json={})
    assert first.status_code == second.status_code == 201
    assert first.json()["token"] != second.json()["token"]
    assert first.json()["token_id"] != second.json()["token_id"]
    refused = await client.post(
        f"/v1/accounts/{seeded.account_id}/tokens", json={"label": "x", "scope": "all"}
    )
    assert refused.status_code == 422


async def test_a_token_for_a_missing_account_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/accounts/nobody-here/tokens")
    assert response.status_code == 404
    assert response.json() == {"detail": "account 'nobody-here' not found"}


async def test_revoking_refuses_the_token_from_the_next_request_on(
    client: httpx.AsyncClient, tenant: httpx.AsyncClient, seeded: Seeded
) -> None:
    path = f"/v1/accounts/{seeded.account_id}"
    assert (await tenant.get(path)).status_code == 200
    [listed] = (await client.get(f"{path}/tokens")).json()["items"]

    revoked = await client.delete(f"{path}/tokens/{listed['token_id']}")
    assert revoked.status_code == 204 and revoked.content == b""

    refused = await tenant.get(path)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json() == {"detail": "missing or invalid bearer token"}
    [after] = (await client.get(f"{path}/tokens")).json()["items"]
    assert after["revoked_at"] is not None
    # Revoking again changes nothing.
    assert (await client.delete(f"{path}/tokens/{listed['token_id']}")).status_code == 204


async def test_revoking_an_unknown_token_is_404(client: httpx.AsyncClient, seeded: Seeded) -> None:
    other = await new_account(client)
    foreign = await create_token(client, other)
    path = f"/v1/accounts/{seeded.account_id}/tokens"
    for token_id in ("tok_0000000000000000", foreign["token_id"]):  # none, or another's
        response = await client.delete(f"{path}/{token_id}")
        assert response.status_code == 404
        assert response.json() == {"detail": f"token {token_id!r} not found"}
    assert (
        await client.delete(f"/v1/accounts/nobody-here/tokens/{foreign['token_id']}")
    ).json() == {"detail": "account 'nobody-here' not found"}


async def test_a_token_dies_with_its_account(
    tenant: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    # No route deletes accounts yet; the foreign key's ON DELETE CASCADE is what this checks.
    async with store._transactions.write() as tx:
        await tx.execute(delete(AccountRow).where(AccountRow.account_id == seeded.account_id))
        left = await tx.scalar(
            select(ApiTokenRow).where(ApiTokenRow.account_id == seeded.account_id)
        )
    assert left is None
    assert (await tenant.get(f"/v1/accounts/{seeded.account_id}")).status_code == 401


# -- what an account token reaches ---------------------------------------------------------------


async def test_an_account_token_reaches_its_own_account(
    tenant: httpx.AsyncClient, seeded: Seeded
) -> None:
    base = f"/v1/accounts/{seeded.account_id}"
    account = await tenant.get(base)
    assert account.status_code == 200 and account.json()["account_id"] == seeded.account_id

    updated = await tenant.put(
        base, json={"company_name": "Acme Two", "phone_number_id": seeded.phone_number_id}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["company_name"] == "Acme Two"

    assert (await tenant.get(f"{base}/session-settings")).status_code == 200
    saved = await tenant.put(
        f"{base}/session-settings",
        json={
            "enabled": True,
            "expiry_hours": 3,
            "message": "Hi {contact_firstname}! " + "x" * 970,
        },
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["message"] == "Settings saved successfully"
    preview = await tenant.post(f"{base}/session-settings/preview", json={})
    assert preview.status_code == 200 and preview.json()["text"].startswith("Hi John!")

    contact = await tenant.put(f"{base}/contacts/{NUMBER}", json={"first_name": "Ann"})
    assert contact.status_code == 201, contact.text

    reminders = await tenant.get(f"{base}/reminders")
    assert reminders.status_code == 200 and reminders.json() == {"items": [], "next": None}
    # Past the account check, into the handlers: no session yet, and the time-skipping server
    # has no visibility list.
    session = await tenant.get(f"{base}/sessions/{NUMBER}")
    assert session.json() == {"detail": "no session for this customer"}
    assert (await tenant.get(f"{base}/sessions")).status_code == 501


def _operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, methods in spec["paths"].items()
        if path.startswith("/v1/accounts/{account_id}")
        for method in methods
    ]


def _fill(path: str, account_id: str) -> str:
    return (
        path.replace("{account_id}", account_id)
        .replace("{wa_id}", NUMBER)
        .replace("{token_id}", "tok_0000000000000000")
    )


async def test_another_account_answers_as_if_it_did_not_exist(
    client: httpx.AsyncClient, tenant: httpx.AsyncClient
) -> None:
    # Every account route the app documents, including ones added later.
    other = await new_account(client)
    missing = f"acct-{uuid.uuid4().hex[:10]}"
    operations = _operations((await client.get("/openapi.json")).json())
    assert len(operations) >= 12
    for method, path in operations:
        body: dict[str, Any] | None = {} if method in ("PUT", "POST") else None
        to_other = await tenant.request(method, _fill(path, other), json=body)
        to_missing = await tenant.request(method, _fill(path, missing), json=body)
        # The same answer for an account that exists and one that does not.
        assert to_other.status_code == to_missing.status_code, (method, path)
        assert to_other.text.replace(other, "ID") == to_missing.text.replace(missing, "ID")
        if path.startswith("/v1/accounts/{account_id}/tokens"):
            assert to_other.status_code == 403, (method, path)
        elif (method, path) == ("PUT", "/v1/accounts/{account_id}"):
            assert to_other.status_code == 403
            assert "cannot create accounts" in to_other.json()["detail"]
        else:
            # ... which is the API's own answer for an account that does not exist.
            real = await client.request(method, _fill(path, missing), json=body)
            assert real.status_code == 404, (method, path, real.text)
            assert to_other.status_code == 404, (method, path, to_other.text)
            assert to_other.json() == {"detail": f"account {other!r} not found"}
            assert to_missing.json() == real.json()


async def test_another_account_is_untouched(
    client: httpx.AsyncClient, tenant: httpx.AsyncClient
) -> None:
    other = await new_account(client)
    base = f"/v1/accounts/{other}"
    attempts = [
        ("PUT", base, {"company_name": "Mine now", "phone_number_id": "1"}),
        ("PUT", f"{base}/session-settings", {"enabled": False, "expiry_hours": 2}),
        ("PUT", f"{base}/contacts/{NUMBER}", {"first_name": "Eve"}),
        ("POST", f"{base}/tokens", None),
    ]
    for method, path, body in attempts:
        assert (await tenant.request(method, path, json=body)).status_code in (403, 404)
    assert (await client.get(base)).json()["company_name"] == "Other Ltd."
    assert (await client.get(f"{base}/session-settings")).json()["updated_at"] is None
    assert (await client.get(f"{base}/tokens")).json() == {"items": []}


async def test_token_management_is_for_the_api_token_only(
    tenant: httpx.AsyncClient, seeded: Seeded
) -> None:
    path = f"/v1/accounts/{seeded.account_id}/tokens"
    for method, url in (("POST", path), ("GET", path), ("DELETE", f"{path}/tok_0000000000000000")):
        response = await tenant.request(method, url)
        assert response.status_code == 403, (method, url)
        assert "needs the API token" in response.json()["detail"]


async def test_creating_an_account_is_for_the_api_token_only(tenant: httpx.AsyncClient) -> None:
    response = await tenant.put(
        "/v1/accounts/brand-new",
        json={"company_name": "New", "phone_number_id": "4242", "access_token": "EAAG"},
    )
    assert response.status_code == 403
    # Refused before the body is looked at: an invalid one gets the same answer.
    assert (await tenant.put("/v1/accounts/brand-new", json={"x": 1})).json() == response.json()


async def test_routes_outside_the_accounts_are_for_the_api_token_only(
    client: httpx.AsyncClient, tenant: httpx.AsyncClient
) -> None:
    spec = (await client.get("/openapi.json")).json()
    others = [
        (method.upper(), path)
        for path, methods in spec["paths"].items()
        if path.startswith("/v1/") and not path.startswith("/v1/accounts/")
        for method in methods
    ]
    assert ("GET", "/v1/sandbox/messages") in others
    for method, path in others:
        response = await tenant.request(method, path)
        assert response.status_code == 403, (method, path)


@pytest.mark.parametrize(
    "value",
    [
        TOKEN_PREFIX + "not-a-token-we-gave-out",
        TOKEN_PREFIX,
        TOKEN_PREFIX + "x" * 500,
        "tok_0000000000000000",
    ],
    ids=["unknown", "prefix-only", "too-long", "a-token-id"],
)
async def test_an_unknown_account_token_is_401(
    anon: httpx.AsyncClient, seeded: Seeded, value: str
) -> None:
    response = await anon.get(f"/v1/accounts/{seeded.account_id}", headers=bearer(value))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_openapi_document_declares_the_bearer_scheme(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    tokens = spec["paths"]["/v1/accounts/{account_id}/tokens"]
    assert {"get", "post"} <= set(tokens)
    assert tokens["post"]["security"] == [{"HTTPBearer": []}]
