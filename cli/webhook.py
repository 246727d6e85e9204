"""The webhook Meta would POST for inbound customer texts, signed like Meta signs it.

Used by ``wa-sessions simulate`` and ``demo-traffic``. Pure: the caller passes the clock and the
message ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from whatsapp.signature import SIGNATURE_HEADER, sign

# The webhook's ``entry[].id`` is the WhatsApp Business Account id; the API does not use it.
SIMULATED_WABA_ID = "0"


def simulated_message_id() -> str:
    """A fresh ``wamid`` that says where it came from."""
    return f"wamid.sim-{uuid.uuid4()}"


@dataclass(frozen=True)
class Text:
    """One text message of a customer: what they wrote, when (Meta's timestamp), its id."""

    body: str
    sent_at: datetime
    message_id: str


def build_text_webhook(
    *,
    phone_number_id: str,
    text: str,
    sent_at: datetime,
    message_id: str,
    wa_id: str | None = None,
    user_id: str | None = None,
    username: str | None = None,
    profile_name: str | None = None,
    display_phone_number: str | None = None,
) -> dict[str, Any]:
    """Meta's ``messages`` webhook carrying one text message from a customer.

    The customer is named as Meta names them since 2026: by number (``wa_id``), by BSUID
    (``user_id``) or both; a customer with a username and no number has only the BSUID.
    """
    return build_texts_webhook(
        phone_number_id=phone_number_id,
        texts=[Text(body=text, sent_at=sent_at, message_id=message_id)],
        wa_id=wa_id,
        user_id=user_id,
        username=username,
        profile_name=profile_name,
        display_phone_number=display_phone_number,
    )


def build_texts_webhook(
    *,
    phone_number_id: str,
    texts: Sequence[Text],
    wa_id: str | None = None,
    user_id: str | None = None,
    username: str | None = None,
    profile_name: str | None = None,
    display_phone_number: str | None = None,
) -> dict[str, Any]:
    """Meta's ``messages`` webhook carrying several texts of one customer, in one ``value`` as
    Meta batches messages that arrive together (for example a question and then "STOP")."""
    if wa_id is None and user_id is None:
        raise ValueError("a customer needs a number or a BSUID")
    if not texts:
        raise ValueError("a webhook carries at least one message")
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number or phone_number_id,
            "phone_number_id": phone_number_id,
        },
    }
    contact: dict[str, Any] = {}
    sender: dict[str, Any] = {}
    if wa_id is not None:
        contact["wa_id"] = sender["from"] = wa_id
    if user_id is not None:
        contact["user_id"] = sender["from_user_id"] = user_id
    profile = {"name": profile_name, "username": username}
    if any(profile.values()):
        contact["profile"] = {key: value for key, value in profile.items() if value}
    value["contacts"] = [contact]
    value["messages"] = [
        sender
        | {
            "id": text.message_id,
            "timestamp": str(int(text.sent_at.timestamp())),
            "type": "text",
            "text": {"body": text.body},
        }
        for text in texts
    ]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": SIMULATED_WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }


def signed_body(payload: dict[str, Any], *, app_secret: str) -> tuple[bytes, dict[str, str]]:
    """The exact bytes to POST and the headers, ``X-Hub-Signature-256`` included."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(app_secret.encode(), body),
    }
    return body, headers
