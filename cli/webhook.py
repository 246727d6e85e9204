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
    wa_id: str,
    text: str,
    sent_at: datetime,
    message_id: str,
    profile_name: str | None = None,
    display_phone_number: str | None = None,
) -> dict[str, Any]:
    """Meta's ``messages`` webhook carrying one text message from ``wa_id``."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number or phone_number_id,
            "phone_number_id": phone_number_id,
        },
    }
    contact: dict[str, Any] = {"wa_id": wa_id}
    if profile_name:
        contact["profile"] = {"name": profile_name}
    value["contacts"] = [contact]
    value["messages"] = [
        {
            "from": wa_id,
            "id": message_id,
            "timestamp": str(int(sent_at.timestamp())),
            "type": "text",
            "text": {"body": text},
        }
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
