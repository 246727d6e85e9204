"""parse_webhook against every Meta sample, plus malformed bodies."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.meta_samples import sample_bytes, sample_json, sample_names
from whatsapp.webhook import (
    MAX_WEBHOOK_BYTES,
    IgnoredKind,
    InboundMessage,
    InvalidWebhook,
    StatusUpdate,
    WebhookBatch,
    parse_webhook,
)

PHONE_NUMBER_ID = "110273948561027"
SENT_AT = datetime(2025, 7, 10, 9, 21, 27, tzinfo=UTC)  # "1752139287"
STATUS_WAMID = "wamid.HBgLMTU1NTM4Mjc0NjEVAgARGBI2NDU3RTVEQTk3QUQxNUYzMEYA"

# Every webhook sample and what it must produce: (message kind, id) for customer messages.
CUSTOMER_MESSAGE_SAMPLES = {
    "message-text.json": (
        "text",
        "wamid.HBgLMTU1NTM4Mjc0NjEVAgASGBQwMkM0RkMzNjQ4OTQyMTgxQjg5MQA=",
    ),
    "message-image.json": (
        "image",
        "wamid.HBgLMTU1NTM4Mjc0NjEVAgASGBQ1NUEyNDlEOEVERTUzQjQ2MjQzRQA=",
    ),
    "message-interactive-button-reply.json": (
        "interactive",
        "wamid.HBgLMTU1NTM4Mjc0NjEVAgASGBQ1NkRGMzlDN0RDNzNDM0JDRTgyOAA=",
    ),
    "message-button.json": (
        "button",
        "wamid.HBgLMTU1NTM4Mjc0NjEVAgASGBQ3RDJDMEQ4Qzc5QkZGQTYyMjk0OAA=",
    ),
    "message-reaction.json": (
        "reaction",
        "wamid.HBgLMTU1NTM4Mjc0NjEVAgASGBREN0JGQTM1QTYxNDJEQzBFRUQ0QQA=",
    ),
}
NON_CUSTOMER_SAMPLES = {"message-system.json": "system", "message-unsupported.json": "unsupported"}
STATUS_SAMPLES = {
    "status-sent.json": ("sent", datetime(2025, 7, 10, 10, 0, 30, tzinfo=UTC)),
    "status-delivered.json": ("delivered", datetime(2025, 7, 10, 10, 0, 32, tzinfo=UTC)),
    "status-read.json": ("read", datetime(2025, 7, 10, 10, 1, 35, tzinfo=UTC)),
    "status-failed-131047.json": ("failed", datetime(2025, 7, 12, 9, 28, 0, tzinfo=UTC)),
}
BATCH_SAMPLES = {"batch-two-entries-three-messages.json", "batch-bsuid-mixed.json"}
# Customers who may hide their number behind a username (tests below say what each produces).
BSUID_SAMPLES = {
    "message-text-bsuid-only.json",
    "message-text-phone-and-bsuid.json",
    "message-text-parent-bsuid.json",
    "status-delivered-bsuid.json",
}
SEND_SAMPLES = {  # answers of the send endpoint, exercised by test_client.py
    "send-response-ok.json",
    "send-error-130429.json",
    "send-error-131047.json",
    "send-error-190.json",
    "send-error-131062.json",
}


def test_every_sample_is_covered() -> None:
    # A sample added to tests/fixtures/meta fails here until a test says what it must produce.
    known = (
        CUSTOMER_MESSAGE_SAMPLES.keys()
        | NON_CUSTOMER_SAMPLES.keys()
        | STATUS_SAMPLES.keys()
        | BATCH_SAMPLES
        | SEND_SAMPLES
        | BSUID_SAMPLES
    )
    assert set(sample_names()) == known


@pytest.mark.parametrize("name", sorted(CUSTOMER_MESSAGE_SAMPLES))
def test_customer_message_samples(name: str) -> None:
    kind, message_id = CUSTOMER_MESSAGE_SAMPLES[name]
    batch = parse_webhook(sample_bytes(name))
    assert batch == WebhookBatch(
        customer_messages=[
            InboundMessage(
                phone_number_id=PHONE_NUMBER_ID,
                wa_id="15553827461",
                message_id=message_id,
                sent_at=SENT_AT,
                kind=kind,
                profile_name="Priya Raman",
            )
        ]
    )
    assert batch.customer_messages[0].sent_at.utcoffset() is not None


@pytest.mark.parametrize("name", sorted(NON_CUSTOMER_SAMPLES))
def test_system_and_unsupported_are_ignored(name: str) -> None:
    batch = parse_webhook(sample_bytes(name))
    assert batch.customer_messages == [] and batch.statuses == []
    (ignored,) = batch.ignored
    assert ignored.kind is IgnoredKind.NON_CUSTOMER_MESSAGE
    assert f"'{NON_CUSTOMER_SAMPLES[name]}'" in ignored.reason
    assert ignored.reason.startswith("entry[0].changes[0].value.messages[0]:")


@pytest.mark.parametrize("name", sorted(STATUS_SAMPLES))
def test_status_samples(name: str) -> None:
    status, at = STATUS_SAMPLES[name]
    batch = parse_webhook(sample_bytes(name))
    assert batch.customer_messages == [] and batch.ignored == []
    (update,) = batch.statuses
    assert (update.status, update.at, update.message_id) == (status, at, STATUS_WAMID)
    assert (update.phone_number_id, update.recipient_id) == (PHONE_NUMBER_ID, "15553827461")
    assert update.callback_data == "8d1f6c3e-2b47-4a95-9e0c-5f7a31b2d846"


def test_failed_status_carries_the_131047_error() -> None:
    (update,) = parse_webhook(sample_bytes("status-failed-131047.json")).statuses
    assert update.error_code == 131047
    assert update.error_message == "Re-engagement message"
    assert update.error_details is not None and "24 hours" in update.error_details


def test_successful_statuses_have_no_error() -> None:
    (update,) = parse_webhook(sample_bytes("status-read.json")).statuses
    assert (update.error_code, update.error_message, update.error_details) == (None, None, None)


def test_batch_of_two_entries_yields_all_three_messages() -> None:
    batch = parse_webhook(sample_bytes("batch-two-entries-three-messages.json"))
    assert [(m.message_id, m.wa_id, m.profile_name) for m in batch.customer_messages] == [
        (
            "wamid.HBgLMTU1NTM4Mjc0NjEVAgASGBQ4RTVBNURBM0QxM0Y3QjRBRTE1RgA=",
            "15553827461",
            "Priya Raman",
        ),
        (
            "wamid.HBgMNDQ3NzAwOTAwNDYxFQIAEhgUMjFDODVBMzA5NUMxMTI4QjMxOUEA",
            "447700900461",
            "Tom Whitfield",
        ),
        (
            "wamid.HBgNNTUyMTk4NzY1MDEyMxUCABIYFDJDN0UxRDNENUNEOUE0QjgwNTg2AA==",
            "5521987650123",
            "Larissa Costa",
        ),
    ]
    assert [m.sent_at.timestamp() for m in batch.customer_messages] == [
        1752139287,
        1752139301,
        1752139316,
    ]


def _value(**fields: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        **fields,
    }


def _payload(*changes: dict[str, Any], entries: int = 1) -> bytes:
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": list(changes)} for _ in range(entries)],
        }
    ).encode()


def _message(message_id: str, sender: str = "16505551234", **extra: Any) -> dict[str, Any]:
    return {"from": sender, "id": message_id, "timestamp": "1749416383", "type": "text", **extra}


def test_every_change_message_and_status_is_flattened_in_order() -> None:
    raw = _payload(
        {"field": "messages", "value": _value(messages=[_message("m1"), _message("m2")])},
        {"field": "account_update", "value": {"phone_number": "15550783881", "event": "X"}},
        {
            "field": "messages",
            "value": _value(
                messages=[_message("m3", sender="447700900123")],
                statuses=[
                    {"id": "s1", "status": "delivered", "timestamp": "1749416400"},
                    {"id": "s2", "status": "deleted", "timestamp": "1749416401"},
                    {"id": "s3", "status": "warning", "timestamp": "1749416402"},
                    {"id": "s4", "status": "read", "timestamp": 1749416403},
                ],
                errors=[{"code": 130429, "title": "Rate limit hit"}],
            ),
        },
        entries=2,
    )
    batch = parse_webhook(raw)
    assert [m.message_id for m in batch.customer_messages] == ["m1", "m2", "m3"] * 2
    assert [m.profile_name for m in batch.customer_messages] == [None] * 6  # no contacts[]
    assert [s.message_id for s in batch.statuses] == ["s1", "s4"] * 2
    assert batch.statuses[1] == StatusUpdate(
        phone_number_id=PHONE_NUMBER_ID,
        message_id="s4",
        status="read",
        at=datetime.fromtimestamp(1749416403, tz=UTC),
        recipient_id=None,
        callback_data=None,
    )
    kinds = [item.kind for item in batch.ignored]
    assert (
        kinds
        == [
            IgnoredKind.OTHER_FIELD,
            IgnoredKind.UNTRACKED_STATUS,
            IgnoredKind.UNTRACKED_STATUS,
            IgnoredKind.ERROR,
        ]
        * 2
    )
    assert batch.ignored[0].reason == "entry[0].changes[1]: field 'account_update' not handled"
    assert batch.ignored[1].reason == (
        "entry[0].changes[2].value.statuses[1]: status 'deleted' is not tracked"
    )
    assert (
        batch.ignored[3].reason
        == "entry[0].changes[2].value.errors[0]: code 130429: Rate limit hit"
    )
    assert batch.ignored[4].reason.startswith("entry[1].changes[1]:")


def test_profile_name_comes_from_the_matching_contact() -> None:
    raw = _payload(
        {
            "field": "messages",
            "value": _value(
                contacts=[
                    {"profile": {"name": "Omar"}, "wa_id": "447700900123"},
                    {"wa_id": "16505551234"},  # no profile
                    {"profile": {"name": "No number"}},
                ],
                messages=[_message("a"), _message("b", sender="447700900123")],
            ),
        }
    )
    names = [m.profile_name for m in parse_webhook(raw).customer_messages]
    assert names == [None, "Omar"]


def test_unknown_fields_are_allowed() -> None:
    sample = sample_json("message-text.json")
    sample["entry"][0]["changes"][0]["value"]["messages"][0]["brand_new"] = {"x": [1]}
    sample["entry"][0]["changes"][0]["value"]["contacts"][0]["identity_key_hash"] = "DF2l"
    sample["entry"][0]["time"] = 1749416383
    assert len(parse_webhook(json.dumps(sample).encode()).customer_messages) == 1


@pytest.mark.parametrize("obj", ["page", "instagram", ""])
def test_other_objects_are_an_ignored_batch(obj: str) -> None:
    batch = parse_webhook(json.dumps({"object": obj, "entry": "whatever"}).encode())
    assert batch.customer_messages == [] and batch.statuses == []
    (ignored,) = batch.ignored
    assert ignored.kind is IgnoredKind.OTHER_OBJECT


def test_empty_entry_list_is_an_empty_batch() -> None:
    assert parse_webhook(_payload(entries=0)) == WebhookBatch()


def _with(path: str, value: Any, *, sample: str = "batch-two-entries-three-messages.json") -> bytes:
    """The sample with the value at a dotted path (``entry.0.changes``) replaced or deleted."""
    data = copy.deepcopy(sample_json(sample))
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if value is _DELETE:
        del node[key]
    else:
        node[key] = value
    return json.dumps(data).encode()


_DELETE = object()
_MSG0 = "entry.0.changes.0.value.messages.0"


def _three_changes() -> bytes:
    """A payload whose entry[0].changes[1].value.messages[2] has a bad timestamp."""
    good = {"field": "messages", "value": _value(messages=[_message("a")])}
    bad_messages = [_message("b"), _message("c"), _message("d", timestamp="yesterday")]
    bad = {"field": "messages", "value": _value(messages=bad_messages)}
    return _payload(good, bad)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "body: not valid JSON"),
        (b"{", "body: not valid JSON"),
        (b"\xff\xfe\x00garbage", "body: not valid JSON"),
        (b"{'object': 1}", "body: not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "body: not valid JSON"),
        (
            b'{"object": "whatsapp_business_account", "n": 1' + b"0" * 5000 + b"}",
            "body: not valid JSON",
        ),
        (b"[]", "body: expected a JSON object"),
        (b'"whatsapp_business_account"', "body: expected a JSON object"),
        (b"{}", "object: missing"),
        (b'{"object": 5}', "object: expected a string"),
        (b'{"object": "whatsapp_business_account"}', "entry: missing"),
        (b'{"object": "whatsapp_business_account", "entry": {}}', "entry: expected a list"),
    ],
)
def test_a_body_that_is_no_webhook_is_refused_saying_why(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidWebhook) as caught:
        parse_webhook(raw)
    assert caught.value.reason == reason
    assert str(caught.value) == reason


def _invalid(batch: WebhookBatch) -> list[str]:
    return [item.reason for item in batch.ignored if item.kind is IgnoredKind.INVALID]


@pytest.mark.parametrize(
    ("raw", "reason", "handled"),
    [
        (
            b'{"object": "whatsapp_business_account", "entry": [7]}',
            "entry[0]: expected an object",
            0,
        ),
        (_with("entry.1.changes", _DELETE), "entry[1].changes: missing", 2),
        (_with("entry.0.changes.0.field", None), "entry[0].changes[0].field: expected a string", 1),
        (_with("entry.0.changes.0.value", []), "entry[0].changes[0].value: expected an object", 1),
        (
            _with("entry.0.changes.0.value", None),
            "entry[0].changes[0].value: expected an object",
            1,
        ),
        (
            _with("entry.0.changes.0.value.metadata", _DELETE),
            "entry[0].changes[0].value.metadata: missing",
            1,
        ),
        (
            _with("entry.0.changes.0.value.metadata.phone_number_id", ""),
            "entry[0].changes[0].value.metadata.phone_number_id: must not be empty",
            1,
        ),
        (
            _with("entry.0.changes.0.value.messages", {"a": 1}),
            "entry[0].changes[0].value.messages: expected a list",
            1,
        ),
        (
            _with(_MSG0 + ".from", _DELETE),
            "entry[0].changes[0].value.messages[0]: no sender (from or from_user_id)",
            2,
        ),
        (
            _with("entry.1.changes.0.value.messages.0.id", 42),
            "entry[1].changes[0].value.messages[0].id: expected a string",
            2,
        ),
        (
            _three_changes(),
            "entry[0].changes[1].value.messages[2].timestamp: not a unix timestamp",
            3,
        ),
    ],
)
def test_a_bad_item_is_skipped_naming_its_place_and_its_siblings_are_handled(
    raw: bytes, reason: str, handled: int
) -> None:
    batch = parse_webhook(raw)
    assert _invalid(batch) == [reason]
    assert len(batch.customer_messages) == handled


def test_one_broken_item_among_three_good_messages() -> None:
    data = sample_json("batch-two-entries-three-messages.json")
    value = data["entry"][0]["changes"][0]["value"]
    value["messages"].insert(1, {"id": "wamid.broken", "type": "text"})  # no from, no timestamp
    batch = parse_webhook(json.dumps(data).encode())
    assert [m.wa_id for m in batch.customer_messages] == [
        "15553827461",
        "447700900461",
        "5521987650123",
    ]
    assert len(_invalid(batch)) == 1


def test_a_malformed_contact_costs_only_its_display_name() -> None:
    data = sample_json("message-text.json")
    data["entry"][0]["changes"][0]["value"]["contacts"] = [{"wa_id": 7}]
    batch = parse_webhook(json.dumps(data).encode())
    (message,) = batch.customer_messages
    assert message.profile_name is None
    assert _invalid(batch) == ["entry[0].changes[0].value.contacts[0].wa_id: expected a string"]


@pytest.mark.parametrize(
    "timestamp",
    ["", "yesterday", "-5", "+5", " 5", "1.5", "1e9", "١٢٣", "9" * 13, 1.5, True, None, -1, 10**12],
)
def test_bad_timestamps(timestamp: Any) -> None:
    batch = parse_webhook(_with(_MSG0 + ".timestamp", timestamp))
    assert _invalid(batch) == [
        "entry[0].changes[0].value.messages[0].timestamp: not a unix timestamp"
    ]


def test_status_with_bad_error_code() -> None:
    raw = _with(
        "entry.0.changes.0.value.statuses.0.errors.0.code",
        "abc",
        sample="status-failed-131047.json",
    )
    batch = parse_webhook(raw)
    assert batch.statuses == []
    assert _invalid(batch) == [
        "entry[0].changes[0].value.statuses[0].errors[0].code: expected an integer"
    ]


def test_several_problems_are_counted() -> None:
    data = sample_json("message-text.json")
    message = data["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["id"], message["timestamp"]
    (reason,) = _invalid(parse_webhook(json.dumps(data).encode()))
    assert reason.endswith("(and 1 more)")


def test_oversized_body() -> None:
    with pytest.raises(InvalidWebhook, match="larger than"):
        parse_webhook(b" " * (MAX_WEBHOOK_BYTES + 1))


def test_long_untrusted_values_are_truncated_in_reasons() -> None:
    batch = parse_webhook(json.dumps({"object": "x" * 10_000}).encode())
    assert len(batch.ignored[0].reason) < 120


# -- customers named by BSUID (docs/sessions.md#who-the-customer-is) ---------------------------


def test_a_bsuid_only_message() -> None:
    (message,) = parse_webhook(sample_bytes("message-text-bsuid-only.json")).customer_messages
    assert (message.wa_id, message.user_id, message.parent_user_id) == (
        None,
        "US.13491208655302741918",
        None,
    )
    assert (message.username, message.profile_name) == ("@maraq", "Mara Quint")
    assert message.identity.label == "bsuid:US.13491208655302741918"
    assert message.identity.recipient == "US.13491208655302741918"


def test_a_message_with_number_and_bsuid() -> None:
    (message,) = parse_webhook(sample_bytes("message-text-phone-and-bsuid.json")).customer_messages
    assert (message.wa_id, message.user_id, message.username) == (
        "15553827461",
        "US.80274561930281746652",
        None,
    )
    assert message.profile_name == "Priya Raman"


def test_a_parent_bsuid() -> None:
    (message,) = parse_webhook(sample_bytes("message-text-parent-bsuid.json")).customer_messages
    assert (message.user_id, message.parent_user_id, message.username) == (
        "DE.60193847562019384756",
        "DE.ENT.99120384756610293847",
        "@jweber",
    )


def test_a_status_without_conversation_or_pricing() -> None:
    batch = parse_webhook(sample_bytes("status-delivered-bsuid.json"))
    (update,) = batch.statuses
    assert (update.status, update.recipient_id, update.recipient_user_id) == (
        "delivered",
        None,
        "US.13491208655302741918",
    )
    assert update.callback_data == "3f9b2c71-6d0e-4c1a-9a57-2e8b4f6c0d19"
    assert batch.customer_messages == [] and batch.ignored == []


def test_a_batch_mixing_every_shape() -> None:
    batch = parse_webhook(sample_bytes("batch-bsuid-mixed.json"))
    assert [(m.wa_id, m.user_id, m.kind) for m in batch.customer_messages] == [
        (None, "US.13491208655302741918", "text"),
        ("15553827461", "US.80274561930281746652", "image"),
        ("447700900461", None, "text"),
        (None, "DE.60193847562019384756", "reaction"),
    ]
    assert [m.profile_name for m in batch.customer_messages] == [
        "Mara Quint",
        "Priya Raman",
        "Tom Whitfield",
        "Jonas Weber",
    ]
    assert [s.status for s in batch.statuses] == ["read"]
    assert batch.ignored == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("from_user_id", "not a bsuid"), ("from_user_id", "US." + "9" * 200), ("from", "+1555")],
)
def test_a_malformed_sender_is_skipped(field: str, value: str) -> None:
    data = sample_json("message-text-phone-and-bsuid.json")
    data["entry"][0]["changes"][0]["value"]["messages"][0][field] = value
    batch = parse_webhook(json.dumps(data).encode())
    assert batch.customer_messages == []
    assert len(_invalid(batch)) == 1
