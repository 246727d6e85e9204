"""The WhatsApp Cloud API client: send a text message, and say precisely how a send failed.

``CloudApiClient`` wraps an ``httpx.AsyncClient`` that its owner creates, configures (timeouts,
limits) and closes; this module never creates one. Every failure surfaces as one of the
exceptions of ``whatsapp.errors``::

    error answer with Graph API JSON   -> classify_error(status, error.code) (docs/sending.md)
    error answer without JSON          -> classified by HTTP status (429 retryable, 5xx ambiguous)
    ConnectError, ConnectTimeout,
    PoolTimeout, ProxyError            -> RetryableSendError (nothing left this process)
    ReadTimeout, WriteTimeout, ReadError,
    WriteError, RemoteProtocolError …  -> AmbiguousSendError (Meta may have the message)
    2xx whose body has no message id   -> AmbiguousSendError

Neither the access token nor the recipient's phone number is ever logged or put in an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from core.clock import utc_now
from core.vocabulary import BSUID_RE
from whatsapp.errors import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
    WhatsAppError,
    classify_error,
)

logger = logging.getLogger(__name__)

# Raised before a single byte of the request left this process: re-sending cannot duplicate.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """Meta accepted the message: its wamid, which status webhooks will name."""

    message_id: str


class CloudApiClient:
    """Sends messages through ``POST {base_url}/{api_version}/{phone_number_id}/messages``."""

    def __init__(self, http: httpx.AsyncClient, *, base_url: str, api_version: str) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._api_version = api_version.strip("/")

    async def send_text(
        self,
        *,
        phone_number_id: str,
        access_token: str,
        body: str,
        to: str | None = None,
        recipient: str | None = None,
        callback_data: str | None = None,
    ) -> SentMessage:
        """Send a free-form text; raises a ``WhatsAppError`` subclass on any failure.

        ``to`` is the customer's number in digits (``wa_id``), with or without a leading ``+``;
        without one, ``recipient`` is their BSUID (or parent BSUID), for a customer who hides
        the number behind a username. ``callback_data`` comes back in the message's status
        webhooks.
        """
        payload = _addressed(to=to, recipient=recipient, callback_data=callback_data)
        payload["type"] = "text"
        payload["text"] = {"preview_url": False, "body": body}
        return await self._post(phone_number_id, access_token, payload)

    async def send_template(
        self,
        *,
        phone_number_id: str,
        access_token: str,
        name: str,
        language: str,
        body_parameters: Sequence[str],
        to: str | None = None,
        recipient: str | None = None,
        callback_data: str | None = None,
    ) -> SentMessage:
        """Send an approved template (Meta's template shape), its body's parameters as text in
        order; addressed and answered like ``send_text``."""
        payload = _addressed(to=to, recipient=recipient, callback_data=callback_data)
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if body_parameters:
            template["components"] = [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": text} for text in body_parameters],
                }
            ]
        payload["type"] = "template"
        payload["template"] = template
        return await self._post(phone_number_id, access_token, payload)

    async def _post(
        self, phone_number_id: str, access_token: str, payload: dict[str, Any]
    ) -> SentMessage:
        """POST one message and classify what comes back."""
        url = f"{self._base_url}/{self._api_version}/{quote(phone_number_id, safe='')}/messages"
        try:
            request = self._http.build_request(
                "POST", url, json=payload, headers={"Authorization": f"Bearer {access_token}"}
            )
        except (httpx.InvalidURL, UnicodeError):
            # A misconfigured base URL or a token that is not ASCII; no retry fixes either.
            # ``from None``: the encoding error would carry the token along.
            raise PermanentSendError("cannot build the request: check base URL and token") from None
        try:
            response = await self._http.send(request)
        except _NOT_SENT as exc:
            logger.warning(
                "WhatsApp send not attempted: %s (phone_number_id=%s)",
                type(exc).__name__,
                phone_number_id,
            )
            raise RetryableSendError(
                f"could not reach the WhatsApp API: {type(exc).__name__}"
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            raise PermanentSendError("unusable WhatsApp API URL scheme") from exc
        except httpx.HTTPError as exc:
            logger.warning(
                "WhatsApp send outcome unknown: %s (phone_number_id=%s)",
                type(exc).__name__,
                phone_number_id,
            )
            raise AmbiguousSendError(
                f"the request may have reached the WhatsApp API: {type(exc).__name__}"
            ) from exc

        if response.is_success:
            return _sent_message(response)
        error = _error_from_response(response)
        logger.warning(
            "WhatsApp send failed: %s code=%s status=%s fbtrace_id=%s (phone_number_id=%s)",
            type(error).__name__,
            error.code,
            error.http_status,
            error.fbtrace_id,
            phone_number_id,
        )
        raise error


def _addressed(
    *, to: str | None, recipient: str | None, callback_data: str | None
) -> dict[str, Any]:
    """The part of a message body every type shares: whom it goes to, and our callback data."""
    payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    if to is not None:
        payload["to"] = "+" + _digits(to)
    elif recipient is not None and BSUID_RE.fullmatch(recipient):
        payload["recipient"] = recipient
    else:
        raise PermanentSendError("no recipient: neither a phone number nor a BSUID")
    if callback_data is not None:
        payload["biz_opaque_callback_data"] = callback_data
    return payload


def _digits(to: str) -> str:
    number = to.strip().removeprefix("+")
    if not (number.isascii() and number.isdigit()):
        # The number itself stays out of the message: errors end up in logs and histories.
        raise PermanentSendError("recipient must be a phone number in digits (wa_id)")
    return number


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:  # not JSON, or not decodable text
        return None
    return data if isinstance(data, dict) else None


def _sent_message(response: httpx.Response) -> SentMessage:
    data = _json_object(response) or {}
    messages = data.get("messages")
    first = messages[0] if isinstance(messages, list) and messages else None
    message_id = first.get("id") if isinstance(first, dict) else None
    if not isinstance(message_id, str) or not message_id:
        # Meta answered success but we cannot tell which message it created; treating this as a
        # success would lose the id, treating it as a failure could send twice.
        raise AmbiguousSendError(
            "success answer without a message id", http_status=response.status_code
        )
    return SentMessage(message_id=message_id)


def _error_from_response(response: httpx.Response) -> WhatsAppError:
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    data = _json_object(response)
    error = data.get("error") if data is not None else None
    if not isinstance(error, dict):
        return classify_error(
            http_status=response.status_code,
            code=None,
            message=f"HTTP {response.status_code} {response.reason_phrase}".strip(),
            retry_after=retry_after,
        )
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    message = error.get("message")
    fbtrace_id = error.get("fbtrace_id")
    return classify_error(
        http_status=response.status_code,
        code=_as_int(error.get("code")),
        message=message if isinstance(message, str) else "no error message",
        error_subcode=_as_int(error.get("error_subcode")),
        fbtrace_id=fbtrace_id if isinstance(fbtrace_id, str) else None,
        details=details if isinstance(details, str) else None,
        retry_after=retry_after,
    )


def _as_int(value: object) -> int | None:
    # Graph API codes are integers; some proxies and BSPs pass them on as strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP-date is always GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or utc_now())).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return max(seconds, 0.0)
