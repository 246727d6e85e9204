"""``/v1/accounts``: bearer auth, create/update, write-only token, 409, 404, contacts."""

from __future__ import annotations

import uuid

import httpx
import pytest

from core.identity import CustomerIdentity
from store.repository import Store
from tests.api.conftest import Seeded
from tests.support import contact_by_number

TOKEN = "EAAG-super-secret-access-token"
BSUID = "US.13491208655302741918"


def new_id() -> str:
    return f"acct-{uuid.uuid4().hex[:10]}"


def new_phone() -> str:
    return str(uuid.uuid4().int % 10**15)


def assert_no_secret(response: httpx.Response) -> None:
    assert TOKEN not in response.text
    assert "EAAG" not in response.text
    assert "access_token" not in response.text or response.status_code == 422


# -- auth ------------------------------------------------------------------------------------

V1_ROUTES = [
    ("GET", "/v1/accounts/acme"),
    ("PUT", "/v1/accounts/acme"),
    ("PUT", "/v1/accounts/acme/contacts/16505551234"),
    ("GET", "/v1/accounts/acme/session-settings"),
    ("PUT", "/v1/accounts/acme/session-settings"),
    ("POST", "/v1/accounts/acme/session-settings/preview"),
    ("GET", "/v1/accounts/acme/sessions"),
    ("GET", "/v1/accounts/acme/sessions/16505551234"),
    ("GET", "/v1/accounts/acme/reminders"),
]


@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdDp0ZXN0"}],
    ids=["missing", "wrong", "basic"],
)
async def test_v1_needs_the_bearer_token(
    anon: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = await anon.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "detail" in response.json()


async def test_every_v1_route_is_protected(anon: httpx.AsyncClient) -> None:
    # Every /v1 operation the app documents, including ones added later by other routers.
    spec = (await anon.get("/openapi.json")).json()
    operations = [
        (method.upper(), path.replace("{account_id}", "acme").replace("{wa_id}", "16505551234"))
        for path, methods in spec["paths"].items()
        if path.startswith("/v1/")
        for method in methods
    ]
    assert set(V1_ROUTES) <= set(operations)
    for method, path in operations:
        response = await anon.request(method, path, json={})
        assert response.status_code == 401, (method, path)
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


# -- create / update -------------------------------------------------------------------------


async def test_put_creates_then_updates(client: httpx.AsyncClient, store: Store) -> None:
    account_id, phone = new_id(), new_phone()
    body = {"company_name": "Acme Inc.", "phone_number_id": phone, "access_token": TOKEN}
    created = await client.put(f"/v1/accounts/{account_id}", json=body)
    assert created.status_code == 201, created.text
    assert created.json() | {"created_at": None, "updated_at": None} == {
        "account_id": account_id,
        "company_name": "Acme Inc.",
        "phone_number_id": phone,
        "created_at": None,
        "updated_at": None,
    }
    assert_no_secret(created)

    # The token may be omitted on update: the stored one is kept.
    updated = await client.put(
        f"/v1/accounts/{account_id}", json={"company_name": "Acme GmbH", "phone_number_id": phone}
    )
    assert updated.status_code == 200
    assert updated.json()["company_name"] == "Acme GmbH"
    assert_no_secret(updated)
    stored = await store.accounts.get(account_id=account_id)
    assert stored is not None and stored.access_token == TOKEN

    fetched = await client.get(f"/v1/accounts/{account_id}")
    assert fetched.status_code == 200
    assert fetched.json()["company_name"] == "Acme GmbH"
    assert_no_secret(fetched)


async def test_token_rotation(client: httpx.AsyncClient, store: Store) -> None:
    account_id, phone = new_id(), new_phone()
    body = {"company_name": "Acme", "phone_number_id": phone, "access_token": TOKEN}
    assert (await client.put(f"/v1/accounts/{account_id}", json=body)).status_code == 201
    rotated = await client.put(
        f"/v1/accounts/{account_id}", json=body | {"access_token": "EAAG-rotated"}
    )
    assert rotated.status_code == 200
    assert "EAAG" not in rotated.text
    stored = await store.accounts.get(account_id=account_id)
    assert stored is not None and stored.access_token == "EAAG-rotated"


async def test_create_without_token_is_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.put(
        f"/v1/accounts/{new_id()}", json={"company_name": "Acme", "phone_number_id": new_phone()}
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "access_token"]
    assert error["type"] == "missing"
    assert "required" in error["msg"]


async def test_taken_phone_number_is_409(client: httpx.AsyncClient, seeded: Seeded) -> None:
    response = await client.put(
        f"/v1/accounts/{new_id()}",
        json={
            "company_name": "Other",
            "phone_number_id": seeded.phone_number_id,
            "access_token": TOKEN,
        },
    )
    assert response.status_code == 409
    assert seeded.phone_number_id in response.json()["detail"]
    assert_no_secret(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"company_name": "", "phone_number_id": "123", "access_token": TOKEN}, "company_name"),
        ({"phone_number_id": "123", "access_token": TOKEN}, "company_name"),
        (
            {"company_name": "A", "phone_number_id": "12 3", "access_token": TOKEN},
            "phone_number_id",
        ),
        ({"company_name": "A", "phone_number_id": "123", "access_token": ""}, "access_token"),
        ({"company_name": "A", "phone_number_id": "123", "access_token": 5}, "access_token"),
        ({"company_name": "A", "phone_number_id": "123", "extra": 1}, "extra"),
    ],
)
async def test_bad_account_fields_are_422(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.put(f"/v1/accounts/{new_id()}", json=body)
    assert response.status_code == 422
    assert any(error["loc"][-1] == field for error in response.json()["detail"])
    assert TOKEN not in response.text  # rejected input is not echoed back for secrets


async def test_bad_account_id_is_422(client: httpx.AsyncClient) -> None:
    body = {"company_name": "A", "phone_number_id": new_phone(), "access_token": TOKEN}
    response = await client.put("/v1/accounts/not%20ok", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "account_id"]


async def test_unknown_account_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/accounts/{new_id()}")
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


# -- contacts --------------------------------------------------------------------------------


async def test_put_contact_creates_then_replaces(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    path = f"/v1/accounts/{seeded.account_id}/contacts/16505551234"
    created = await client.put(
        path, json={"first_name": "John", "last_name": "Smith", "email": "john@example.com"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["first_name"] == "John"
    replaced = await client.put(path, json={"first_name": "Johnny"})
    assert replaced.status_code == 200
    assert replaced.json() | {"profile_name": None} == {
        "account_id": seeded.account_id,
        "wa_id": "16505551234",
        "user_id": None,
        "username": None,
        "first_name": "Johnny",
        "last_name": None,
        "email": None,
        "profile_name": None,
        "opted_out": False,
        "opted_out_changed_at": None,
    }
    contact = await contact_by_number(store, account_id=seeded.account_id, wa_id="16505551234")
    assert contact is not None and contact.first_name == "Johnny"
    assert "EAAG" not in created.text + replaced.text


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@c.de", "@example.com"])
async def test_bad_email_is_422(client: httpx.AsyncClient, seeded: Seeded, email: str) -> None:
    response = await client.put(
        f"/v1/accounts/{seeded.account_id}/contacts/16505551234", json={"email": email}
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "email"]
    assert error["type"] == "email"


@pytest.mark.parametrize(
    "wa_id",
    ["123", "1234567890123456", "0123456789", "+16505551234", "abc", "us.1", "US.", "US.a-b"],
)
async def test_bad_wa_id_is_422(client: httpx.AsyncClient, seeded: Seeded, wa_id: str) -> None:
    response = await client.put(f"/v1/accounts/{seeded.account_id}/contacts/{wa_id}", json={})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "wa_id"]


async def test_put_contact_by_bsuid_is_the_customer_webhooks_name(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    path = f"/v1/accounts/{seeded.account_id}/contacts/{BSUID}"
    created = await client.put(path, json={"first_name": "Maria"})
    assert created.status_code == 201, created.text
    assert created.json() | {"profile_name": None} == {
        "account_id": seeded.account_id,
        "wa_id": None,
        "user_id": BSUID,
        "username": None,
        "first_name": "Maria",
        "last_name": None,
        "email": None,
        "profile_name": None,
        "opted_out": False,
        "opted_out_changed_at": None,
    }
    # A webhook naming the customer by number and BSUID completes the same contact ...
    await store.contacts.resolve_sender(
        account_id=seeded.account_id,
        identity=CustomerIdentity(wa_id="16505550000", user_id=BSUID, username="@maria"),
        new_key="unused",
        profile_name="M",
    )
    # ... which the number now names too.
    by_number = await client.put(
        f"/v1/accounts/{seeded.account_id}/contacts/16505550000", json={"first_name": "María"}
    )
    assert by_number.status_code == 200
    assert by_number.json() | {"first_name": None} == created.json() | {
        "wa_id": "16505550000",
        "username": "@maria",
        "profile_name": "M",
        "first_name": None,
    }


async def test_contact_of_unknown_account_is_404(client: httpx.AsyncClient) -> None:
    response = await client.put(f"/v1/accounts/{new_id()}/contacts/16505551234", json={})
    assert response.status_code == 404
