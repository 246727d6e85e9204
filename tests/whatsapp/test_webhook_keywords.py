"""``InboundMessage.keyword_text``: the body of a short text, kept only to recognise an opt-out
or opt-in keyword, never logged nor serialized; a malformed body costs nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.reach import MAX_KEYWORD_LENGTH
from whatsapp.webhook import InboundMessage, parse_webhook


def _message(kind: str = "text", **body: Any) -> dict[str, Any]:
    return {
        "from": "15553827461",
        "id": "wamid.K1",
        "timestamp": "1752139287",
        "type": kind,
        **body,
    }


def _parsed(message: dict[str, Any]) -> InboundMessage:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15557204190", "phone_number_id": "1001"},
        "messages": [message],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    batch = parse_webhook(json.dumps(payload).encode())
    assert batch.ignored == []
    (parsed,) = batch.customer_messages
    return parsed


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        ("STOP", "STOP"),
        (" stop ", "stop"),
        ("Stop\n", "Stop"),
        ("stop please", "stop please"),
        ("x" * MAX_KEYWORD_LENGTH, "x" * MAX_KEYWORD_LENGTH),
        ("  " + "x" * MAX_KEYWORD_LENGTH + "\n\n", "x" * MAX_KEYWORD_LENGTH),
    ],
)
def test_a_short_text_keeps_its_trimmed_body(body: str, kept: str) -> None:
    assert _parsed(_message(text={"body": body})).keyword_text == kept


@pytest.mark.parametrize(
    "message",
    [
        _message(text={"body": "x" * (MAX_KEYWORD_LENGTH + 1)}),
        _message(text={"body": "   "}),
        _message(text={"body": 42}),
        _message(text={"body": None}),
        _message(text={"body": ["STOP"]}),
        _message(text={}),
        _message(text="STOP"),
        _message(),
        _message("image", image={"caption": "STOP", "id": "1"}),
        _message("button", button={"text": "STOP", "payload": "STOP"}),
        _message("interactive", text={"body": "STOP"}),
    ],
    ids=[
        "too-long",
        "blank",
        "number",
        "null",
        "list",
        "no-body",
        "text-not-an-object",
        "no-text",
        "image-caption",
        "button",
        "not-a-text-type",
    ],
)
def test_anything_else_keeps_nothing_and_is_still_a_customer_message(
    message: dict[str, Any],
) -> None:
    parsed = _parsed(message)
    assert parsed.keyword_text is None
    assert parsed.message_id == "wamid.K1"


def test_the_body_is_never_in_a_repr_or_a_dump() -> None:
    parsed = _parsed(_message(text={"body": "STOP"}))
    assert parsed.keyword_text == "STOP"
    assert "STOP" not in repr(parsed)
    assert "keyword_text" not in parsed.model_dump()
    assert "STOP" not in parsed.model_dump_json()
