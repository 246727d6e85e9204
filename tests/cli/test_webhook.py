"""The webhook ``simulate`` builds is one Meta would send: it parses and its signature verifies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cli.webhook import build_text_webhook, signed_body, simulated_message_id
from whatsapp.signature import SIGNATURE_HEADER, verify_signature
from whatsapp.webhook import parse_webhook

SENT_AT = datetime(2024, 5, 1, 9, 1, 0, tzinfo=UTC)


def _payload(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "phone_number_id": "1234567890",
        "wa_id": "15551234567",
        "text": "hello",
        "sent_at": SENT_AT,
        "message_id": "wamid.sim-1",
        "profile_name": "John Smith",
    }
    arguments.update(overrides)
    return build_text_webhook(**arguments)


def test_parses_as_one_customer_message() -> None:
    body, _ = signed_body(_payload(), app_secret="s3cret")
    batch = parse_webhook(body)
    assert batch.ignored == []
    assert batch.statuses == []
    [message] = batch.customer_messages
    assert message.phone_number_id == "1234567890"
    assert message.wa_id == "15551234567"
    assert message.message_id == "wamid.sim-1"
    assert message.sent_at == SENT_AT
    assert message.kind == "text"
    assert message.profile_name == "John Smith"


def test_meta_shape() -> None:
    payload = _payload()
    assert payload["object"] == "whatsapp_business_account"
    [entry] = payload["entry"]
    [change] = entry["changes"]
    assert change["field"] == "messages"
    [message] = change["value"]["messages"]
    assert message["timestamp"] == str(int(SENT_AT.timestamp()))
    assert message["text"] == {"body": "hello"}


def test_without_profile_name() -> None:
    body, _ = signed_body(_payload(profile_name=None), app_secret="s3cret")
    [message] = parse_webhook(body).customer_messages
    assert message.profile_name is None


def test_signature_verifies_with_the_secret_only() -> None:
    body, headers = signed_body(_payload(), app_secret="s3cret")
    header = headers[SIGNATURE_HEADER]
    assert verify_signature(app_secret=b"s3cret", raw_body=body, header=header)
    assert not verify_signature(app_secret=b"other", raw_body=body, header=header)
    assert not verify_signature(app_secret=b"s3cret", raw_body=body + b" ", header=header)


def test_message_ids_are_fresh_and_marked() -> None:
    first, second = simulated_message_id(), simulated_message_id()
    assert first != second
    assert first.startswith("wamid.sim-")


BSUID = "US.13491208655302741918"


def test_a_customer_with_a_username_and_no_number() -> None:
    payload = _payload(wa_id=None, user_id=BSUID, username="@maria", profile_name=None)
    [message_json] = payload["entry"][0]["changes"][0]["value"]["messages"]
    assert "from" not in message_json and message_json["from_user_id"] == BSUID
    body, _ = signed_body(payload, app_secret="s3cret")
    [message] = parse_webhook(body).customer_messages
    assert (message.wa_id, message.user_id, message.username) == (None, BSUID, "@maria")


def test_a_customer_named_by_number_and_bsuid() -> None:
    body, _ = signed_body(_payload(user_id=BSUID), app_secret="s3cret")
    [message] = parse_webhook(body).customer_messages
    assert (message.wa_id, message.user_id, message.profile_name) == (
        "15551234567",
        BSUID,
        "John Smith",
    )


def test_a_customer_needs_a_number_or_a_bsuid() -> None:
    with pytest.raises(ValueError, match="number or a BSUID"):
        _payload(wa_id=None)
