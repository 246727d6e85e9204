"""``GET /v1/sandbox/messages``: what the stand-in Graph API received, for the outbox page.

The page's JS cannot reach the sandbox's own port (another origin), so the API fetches
``{sandbox}/_sandbox/messages`` with its httpx client and answers the list. The sandbox is
``SANDBOX_URL`` when set, otherwise ``WHATSAPP_API_BASE_URL`` (the sandbox in sandbox mode).
Items are ``whatsapp.sandbox.SandboxMessage`` as the sandbox recorded them: a text has its
``body``; a template (``kind: "template"``) its ``template`` name, language and parameters.

    404  the base URL has no ``/_sandbox/messages``: not in sandbox mode (Meta's own Graph API
         is never asked, so real mode costs no outbound call)
    502  the sandbox answered something else than its message list
    503  the sandbox did not answer
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ValidationError

from api.deps import HttpDep, SettingsDep, require_admin
from api.errors import ServiceUnavailable
from core.vocabulary import PHONE_NUMBER_ID_PATTERN
from whatsapp.sandbox import SandboxMessage

logger = logging.getLogger(__name__)

# Hosts of Meta's real Graph API: they have no sandbox endpoints, so they are not asked.
_META_HOSTS = frozenset({"graph.facebook.com", "graph.whatsapp.com"})
SANDBOX_TIMEOUT_SECONDS = 5.0

router = APIRouter(
    prefix="/v1/sandbox",
    tags=["sandbox"],
    # The sandbox records every account's messages: the API token only (403 for an account's).
    dependencies=[Depends(require_admin)],
    responses={
        401: {"description": "missing or wrong bearer token"},
        403: {"description": "an account token (this needs the API token)"},
    },
)


class OutboxList(BaseModel):
    items: list[SandboxMessage]


class _SandboxAnswer(BaseModel):
    items: list[SandboxMessage]


NOT_IN_SANDBOX = "not in sandbox mode: messages go to the real WhatsApp Cloud API"


@router.get(
    "/messages",
    response_model=OutboxList,
    responses={
        404: {"description": "not in sandbox mode"},
        502: {"description": "the sandbox answered unexpectedly"},
        503: {"description": "the sandbox is unreachable"},
    },
)
async def list_sandbox_messages(
    settings: SettingsDep,
    http: HttpDep,
    phone_number_id: Annotated[
        str | None, Query(pattern=PHONE_NUMBER_ID_PATTERN, description="one business number")
    ] = None,
) -> OutboxList:
    """Messages the stand-in Graph API recorded (sandbox mode only), newest first."""
    base = (settings.sandbox_url or settings.whatsapp_api_base_url).rstrip("/")
    if urlsplit(base).hostname in _META_HOSTS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_IN_SANDBOX)
    params = {} if phone_number_id is None else {"phone_number_id": phone_number_id}
    try:
        answer = await http.get(
            f"{base}/_sandbox/messages", params=params, timeout=SANDBOX_TIMEOUT_SECONDS
        )
    except httpx.HTTPError as err:
        logger.warning("sandbox messages: %s", type(err).__name__)
        raise ServiceUnavailable("sandbox", "the sandbox Graph API is unreachable") from err
    if answer.status_code in (status.HTTP_404_NOT_FOUND, status.HTTP_405_METHOD_NOT_ALLOWED):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_IN_SANDBOX)
    try:
        answer.raise_for_status()
        listed = _SandboxAnswer.model_validate_json(answer.content)
    except (httpx.HTTPStatusError, ValidationError):
        logger.warning("sandbox messages: unexpected answer (HTTP %s)", answer.status_code)
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY, detail="the sandbox answered unexpectedly"
        ) from None
    return OutboxList(items=listed.items[::-1])
