"""Meta's webhook: the verification handshake and the signed event POST.

The rules are docs/http-api.md#webhook.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError

from api.deps import IngestCacheDep, MetricsDep, ResourcesDep, SettingsDep
from api.errors import ServiceUnavailable
from api.ingest import WebhookIngest
from core.redact import withheld
from whatsapp.signature import SIGNATURE_HEADER, verify_signature
from whatsapp.webhook import MAX_WEBHOOK_BYTES, IgnoredKind, InvalidWebhook, parse_webhook

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class WebhookAck(BaseModel):
    status: str = "ok"
    messages: int
    statuses: int
    conversations: int
    ignored: int
    invalid: int = Field(description="items skipped because they lacked what they need")
    expired_messages: int = Field(
        description="messages already older than the 24-hour window: counted, no session"
    )
    unknown_account_items: int


class _TooLarge(Exception):
    pass


# How much of a refused body is read (and dropped) so that its sender can read the 413.
MAX_DRAIN_BYTES = 8 * MAX_WEBHOOK_BYTES


@router.get(
    "/whatsapp",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, 403: {"description": "verification refused"}},
)
async def verify_webhook(
    settings: SettingsDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    verify_token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=1024)] = None,
) -> PlainTextResponse:
    """Meta's subscription handshake: echo ``hub.challenge`` when the verify token matches."""
    expected = settings.whatsapp_verify_token.get_secret_value().encode()
    given = (verify_token or "").encode()
    if mode != "subscribe" or not expected or not hmac.compare_digest(given, expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="verification refused")
    return PlainTextResponse(challenge or "")


@router.post(
    "/whatsapp",
    response_model=WebhookAck,
    responses={
        400: {"description": "malformed body (the reason names the offending place)"},
        401: {"description": f"missing or wrong {SIGNATURE_HEADER}"},
        413: {"description": f"body larger than {MAX_WEBHOOK_BYTES} bytes"},
        503: {"description": "Temporal or the database is unavailable; Meta retries"},
    },
)
async def receive_webhook(
    request: Request,
    resources: ResourcesDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    cache: IngestCacheDep,
) -> WebhookAck:
    """Verify, parse and hand over every message and status of one webhook POST."""
    started = time.perf_counter()
    result = "error"
    try:
        try:
            raw = await _read_capped(request, MAX_WEBHOOK_BYTES)
        except _TooLarge:
            result = "too_large"
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                detail=f"body larger than {MAX_WEBHOOK_BYTES} bytes",
            ) from None
        # Before parsing: nothing of an unauthenticated body is looked at.
        if not verify_signature(
            app_secret=settings.whatsapp_app_secret.get_secret_value().encode(),
            raw_body=raw,
            header=request.headers.get(SIGNATURE_HEADER),
        ):
            result = "bad_signature"
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, detail=f"missing or invalid {SIGNATURE_HEADER}"
            )
        try:
            batch = parse_webhook(raw)
        except InvalidWebhook as err:
            result = "invalid"
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=err.reason) from None
        invalid = [item for item in batch.ignored if item.kind is IgnoredKind.INVALID]
        for item in invalid:
            # The reason names a place and a rule, never the offending value.
            logger.warning("webhook item skipped: %s", item.reason)

        ingest = WebhookIngest(
            store=resources.store,
            temporal=resources.temporal,
            settings=settings,
            metrics=metrics,
            clock=resources.clock,
            cache=cache,
        )
        try:
            handled = await ingest.handle(batch)
        except HTTPException:
            raise
        except ServiceUnavailable:
            result = "unavailable"
            raise
        except Exception as err:
            # Whatever went wrong, the events were not durably handed over: a 5xx makes Meta
            # retry, and every step is idempotent. The global handlers name DB/Temporal outages;
            # anything else is logged with its traceback and still answered 503, never 500.
            result = "unavailable"
            if _is_known_outage(err):
                raise
            logger.error("webhook hand-off failed unexpectedly: %s", withheld(err))
            raise ServiceUnavailable("webhook processing") from err
        result = "accepted"
        return WebhookAck(
            messages=handled.messages,
            statuses=handled.statuses,
            conversations=handled.conversations,
            ignored=len(batch.ignored) - len(invalid),
            invalid=len(invalid),
            expired_messages=handled.expired_messages,
            unknown_account_items=handled.unknown_account_items,
        )
    finally:
        metrics.webhook_requests.labels(result).inc()
        metrics.webhook_latency.observe(time.perf_counter() - started)


def _is_known_outage(err: Exception) -> bool:
    return isinstance(err, SQLAlchemyError | RPCError | TimeoutError | OSError)


async def _read_capped(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes whether or not Content-Length says so.

    A refused body is still read to its end (up to ``MAX_DRAIN_BYTES``) before the 413 goes out:
    a client that sends the whole body before reading (Python's urllib, ``Connection: close``)
    would otherwise find the connection reset and never see the answer.
    """
    declared = request.headers.get("content-length")
    too_large = declared is not None and declared.isdigit() and int(declared) > limit
    body = bytearray()
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if not too_large:
            body += chunk
            too_large = received > limit
        if received > MAX_DRAIN_BYTES:
            break  # past this, a reset connection is what an abusive client gets
    if too_large:
        raise _TooLarge
    return bytes(body)
