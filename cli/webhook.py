"""The webhook Meta would POST for one inbound customer text, signed like Meta signs it.

Used by ``wa-sessions simulate``. Pure: the caller passes the clock and the message id.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from whatsapp.signature import SIGNATURE_HEADER, sign

# The webhook's ``entry[].id`` is the WhatsApp Business Account id; the API does not use it.
SIMULATED_WABA_ID = "0"


def simulated_message_id() -> str:
    """A fresh ``wamid`` that says where it came from."""
    return f"wamid.sim-{uuid.uuid4()}"


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
    if wa_id is None and user_id is None:
        raise ValueError("a customer needs a number or a BSUID")
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number or phone_number_id,
            "phone_number_id": phone_number_id,
        },
    }
    contact: dict[str, Any] = {}
    message: dict[str, Any] = {}
    if wa_id is not None:
        contact["wa_id"] = message["from"] = wa_id
    if user_id is not None:
        contact["user_id"] = message["from_user_id"] = user_id
    profile = {"name": profile_name, "username": username}
    if any(profile.values()):
        contact["profile"] = {key: value for key, value in profile.items() if value}
    value["contacts"] = [contact]
    message |= {
        "id": message_id,
        "timestamp": str(int(sent_at.timestamp())),
        "type": "text",
        "text": {"body": text},
    }
    value["messages"] = [message]
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
