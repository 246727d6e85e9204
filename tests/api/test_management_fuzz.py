"""Property: no body sent to the management API makes it answer 500 (only 2xx/4xx)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Seeded

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Strict JSON: httpx refuses to encode NaN and infinities.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
texts = st.text(max_size=1100) | st.sampled_from(["Hi {contact_firstname}!!", "{x}" * 5])
settings_bodies = st.fixed_dictionaries(
    {},
    optional={
        "enabled": st.booleans() | json_values,
        "expiry_hours": st.integers(-5, 30) | json_values,
        "message": texts | json_values,
    },
)
contact = st.fixed_dictionaries(
    {},
    optional={
        "first_name": st.text(max_size=5) | json_values,
        "email": st.emails() | st.text(max_size=8),
        "wa_id": st.from_regex(r"\+?[0-9]{1,16}", fullmatch=True) | json_values,
    },
)
preview_bodies = st.fixed_dictionaries(
    {},
    optional={"message": texts | json_values, "contact": contact | json_values, "wa_id": texts},
)


@FUZZ
@given(body=settings_bodies | json_values)
async def test_settings_never_500(client: httpx.AsyncClient, seeded: Seeded, body: Any) -> None:
    response = await client.put(f"/v1/accounts/{seeded.account_id}/session-settings", json=body)
    assert response.status_code in (200, 422), response.text


@FUZZ
@given(body=preview_bodies | json_values)
async def test_preview_never_500(client: httpx.AsyncClient, seeded: Seeded, body: Any) -> None:
    response = await client.post(
        f"/v1/accounts/{seeded.account_id}/session-settings/preview", json=body
    )
    assert response.status_code in (200, 404, 422), response.text


@FUZZ
@given(
    account_id=st.text(min_size=1, max_size=70).filter(lambda s: s not in (".", "..")),
    body=st.fixed_dictionaries(
        {},
        optional={
            "company_name": st.text(max_size=210) | json_values,
            "phone_number_id": st.text(max_size=70) | json_values,
            "access_token": st.text(max_size=10) | json_values,
        },
    ),
)
async def test_accounts_never_500(client: httpx.AsyncClient, account_id: str, body: Any) -> None:
    response = await client.put(f"/v1/accounts/{quote(account_id, safe='')}", json=body)
    assert response.status_code in (200, 201, 404, 405, 409, 422), response.text


@FUZZ
@given(cursor=st.text(max_size=80), limit=st.integers(-2, 300), wa_id=st.text(max_size=16))
async def test_reminders_never_500(
    client: httpx.AsyncClient, seeded: Seeded, cursor: str, limit: int, wa_id: str
) -> None:
    response = await client.get(
        f"/v1/accounts/{seeded.account_id}/reminders",
        params={"cursor": cursor, "limit": limit, "wa_id": wa_id},
    )
    assert response.status_code in (200, 400, 422), response.text
