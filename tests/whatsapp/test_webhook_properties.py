"""Property: whatever the bytes, parse_webhook returns a batch or raises InvalidWebhook."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.meta_samples import sample_json, sample_names
from whatsapp.webhook import InvalidWebhook, WebhookBatch, parse_webhook

# Keys of Meta's payload, so that random objects often look almost right.
_KEYS = [
    "object", "entry", "id", "changes", "field", "value", "metadata", "phone_number_id",
    "display_phone_number", "contacts", "profile", "name", "wa_id", "messages", "from",
    "timestamp", "type", "statuses", "status", "recipient_id", "biz_opaque_callback_data",
    "errors", "code", "title", "message", "error_data", "details",
]  # fmt: skip

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["whatsapp_business_account", "messages", "1749416383", "sent", "read"])
)
json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)

_WEBHOOK_SAMPLES = [name for name in sample_names() if not name.startswith("send-")]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


def _parses_or_refuses(raw: bytes) -> bool:
    """True when ``raw`` parses to a batch or is refused with a reason; any other exception
    propagates and fails the test."""
    try:
        result = parse_webhook(raw)
    except InvalidWebhook as exc:
        return bool(exc.reason)
    return isinstance(result, WebhookBatch)


@settings(max_examples=200)
@given(st.binary(max_size=512))
def test_arbitrary_bytes(raw: bytes) -> None:
    assert _parses_or_refuses(raw)


@settings(max_examples=200)
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    assert _parses_or_refuses(json.dumps(value).encode())


@settings(max_examples=200)
@given(st.sampled_from(_WEBHOOK_SAMPLES), st.data())
def test_samples_with_one_value_replaced(name: str, data: st.DataObject) -> None:
    # Random JSON rarely gets past the first levels; mutating a real sample reaches every field.
    sample = copy.deepcopy(sample_json(name))
    path = data.draw(st.sampled_from(_paths(sample)[1:]))
    node = sample
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = data.draw(json_values)
    raw = json.dumps(sample).encode()
    assert _parses_or_refuses(raw)
    if len(path) > 2:  # below entry[i]: an item can be skipped, the body is never refused
        assert isinstance(parse_webhook(raw), WebhookBatch)
