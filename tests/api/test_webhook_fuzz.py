"""Property: no correctly signed body, however strange, makes the webhook answer 500.

Signed on purpose: unsigned junk stops at the signature check, which proves nothing about the
parser and the hand-off behind it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Seeded
from tests.api.support import post_webhook

ALLOWED = {200, 400, 413}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

# Close to Meta's shape, so that most examples get past the top level into the details.
timestamps = st.one_of(
    st.integers(min_value=-10, max_value=10**13).map(str),
    st.integers(min_value=-10, max_value=10**13),
    st.text(max_size=12),
    st.none(),
)
messages = st.fixed_dictionaries(
    {
        "from": st.one_of(st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True), st.text(max_size=5)),
        "id": st.text(max_size=12),
        "timestamp": timestamps,
        "type": st.sampled_from(["text", "image", "system", "unsupported", "reaction", ""]),
    },
    optional={"text": json_values, "errors": json_values},
)
statuses = st.fixed_dictionaries(
    {
        "id": st.text(max_size=12),
        "status": st.sampled_from(["sent", "delivered", "read", "failed", "deleted", ""]),
        "timestamp": timestamps,
    },
    optional={
        "biz_opaque_callback_data": st.text(max_size=12),
        "recipient_id": st.text(max_size=12),
        "errors": st.lists(st.fixed_dictionaries({"code": st.integers()}), max_size=2),
    },
)


def webhook_like(phone_number_ids: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    value = st.fixed_dictionaries(
        {
            "metadata": st.fixed_dictionaries(
                {
                    "display_phone_number": st.just("15550783881"),
                    "phone_number_id": phone_number_ids,
                }
            )
        },
        optional={
            "messages": st.lists(messages, max_size=3),
            "statuses": st.lists(statuses, max_size=3),
            "contacts": json_values,
            "errors": json_values,
        },
    )
    change = st.fixed_dictionaries(
        {"field": st.sampled_from(["messages", "other"]), "value": value}
    )
    entry = st.fixed_dictionaries(
        {"id": st.text(max_size=5), "changes": st.lists(change, max_size=2)}
    )
    return st.fixed_dictionaries(
        {
            "object": st.sampled_from(["whatsapp_business_account", "page"]),
            "entry": st.lists(entry, max_size=2),
        }
    )


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=st.binary(max_size=2048))
async def test_random_bytes_never_500(anon: httpx.AsyncClient, body: bytes) -> None:
    response = await post_webhook(anon, body)
    assert response.status_code in ALLOWED, response.text


@FUZZ
@given(payload=json_values)
async def test_random_json_never_500(anon: httpx.AsyncClient, payload: Any) -> None:
    response = await post_webhook(anon, json.dumps(payload).encode())
    assert response.status_code in ALLOWED, response.text


@FUZZ
@given(data=st.data())
async def test_meta_shaped_json_never_500(
    anon: httpx.AsyncClient, seeded: Seeded, data: st.DataObject
) -> None:
    # Some examples hit the real account, so the hand-off to Temporal and the store runs too.
    ids = st.sampled_from([seeded.phone_number_id, "1", ""]) | st.text(max_size=8)
    payload = data.draw(webhook_like(ids))
    response = await post_webhook(anon, json.dumps(payload).encode())
    assert response.status_code in ALLOWED, response.text
