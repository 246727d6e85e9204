"""Text no store can hold (a NUL, an unpaired surrogate) is refused with a 422 naming the field,
and nothing is saved. PostgreSQL refuses a NUL and SQLite's ``length()`` stops at one, so such
a value used to fail at the database as a 503 (schemathesis found it in a settings message)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.conftest import Seeded

# JSON text as a client may send it: "\u0000" and a lone "\ud800" are both valid JSON.
BAD = {"NUL": "Hello there\\u0000!", "surrogate": "Hello there \\ud800!"}

CASES = [
    ("PUT", "/session-settings", {"enabled": True, "expiry_hours": 3, "message": "@"}, "message"),
    (
        "PUT",
        "",
        {"company_name": "@", "phone_number_id": "1000001", "access_token": "x" * 20},
        "company_name",
    ),
    (
        "PUT",
        "",
        {"company_name": "Acme", "phone_number_id": "1000001", "access_token": "@"},
        "access_token",
    ),
    ("PUT", "/contacts/15550001111", {"first_name": "@"}, "first_name"),
    ("PUT", "/contacts/15550001111", {"last_name": "@"}, "last_name"),
    ("PUT", "/contacts/15550001111", {"email": "@"}, "email"),
    ("POST", "/tokens", {"label": "@"}, "label"),
]


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize(("method", "path", "body", "field"), CASES)
async def test_unstorable_text_is_a_422_naming_the_field(
    client: httpx.AsyncClient,
    seeded: Seeded,
    method: str,
    path: str,
    body: dict[str, str],
    field: str,
    bad: str,
) -> None:
    url = f"/v1/accounts/{seeded.account_id}{path}"
    before = await client.get(url) if method == "PUT" else None
    # Spliced into the JSON text by hand: json.dumps would escape the backslash.
    content = json.dumps(body).replace('"@"', f'"{BAD[bad]}"')
    response = await client.request(
        method, url, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][-1] == field
    # A NUL is ours to refuse; pydantic itself refuses a lone surrogate in most fields.
    assert error["type"] in (
        {"storable_text"} if bad == "NUL" else {"storable_text", "string_unicode"}
    )
    if before is not None and before.status_code == 200:
        assert (await client.get(url)).json() == before.json()  # nothing was saved
