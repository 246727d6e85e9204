"""A stand-in for the Graph API's send endpoint, for the local sandbox stack and for tests.

``create_sandbox_app()`` returns a small FastAPI app that behaves like
``POST /{version}/{phone_number_id}/messages`` of the WhatsApp Cloud API: bearer token required
(401 with code 190 otherwise), the body checked the way Meta checks it (400 with code 100), and
Meta's real success and error shapes. Accepted messages are recorded instead of delivered.
It takes the two kinds the service sends: free-form texts (``"type": "text"``) and approved
templates (``"type": "template"``, a name, a language code and body parameters as texts); any
other type is refused with 100, as Meta refuses a malformed body. It knows no template, so any
name and language pass: a failure aimed at a template name (below) plays Meta's refusals.

Like Meta, it reports on every message it accepted: with ``status_webhooks`` set, it posts
signed ``sent``, ``delivered`` and ``read`` status webhooks (carrying the send's
``biz_opaque_callback_data``) to the service's webhook URL shortly afterwards, retrying a few
times while that URL does not answer 200. That is what lets the local stack show delivery
states, and what gives the fault tests the proof an ambiguous send waits for.

Control endpoints (not part of Meta's API) under ``/_sandbox/``:

- ``GET /_sandbox/messages[?phone_number_id=…]`` → ``{"items": [...]}`` in arrival order;
  ``DELETE /_sandbox/messages`` forgets them.
- ``POST /_sandbox/failures`` queues failures, consumed first in first out, one per valid send:
  ``{"kind": "http", "status": 503, "code": 131000, "times": 2}`` answers an error (without
  ``code`` the body is a plain-text error page, as a proxy in front of Meta would send);
  ``{"kind": "delay", "seconds": 5}`` sleeps before handling the send normally (the message is
  recorded once the delay is over, as Meta would still process it: client timeouts see an
  ambiguous outcome); ``{"kind": "accept_then_fail", "status": 500}`` records the message and then
  answers an error (Meta sent it but the answer says otherwise). Any of them with
  ``"template": "<name>"`` is consumed only by a send of that template, in its turn (texts and
  other templates pass it by): ``{"kind": "http", "status": 404, "code": 132001, "template":
  "session_closed"}`` is a template that does not exist.
  ``GET`` lists the pending failures, ``DELETE`` clears them.
- ``POST /_sandbox/status-faults`` queues what happens to the status webhooks of the next
  accepted messages, one per message: ``{"mode": "delayed", "seconds": 30, "times": 1}`` posts
  them late, ``{"mode": "lost"}`` never posts them, ``{"mode": "unread"}`` posts ``sent`` and
  ``delivered`` but never ``read`` (a customer who does not open the chat). ``DELETE`` clears
  the queue.
- ``GET /_sandbox/statuses`` lists the status webhooks posted so far (and their answers).

All state lives on ``app.state`` so that several sandboxes can run in one process.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)

from core.clock import utc_now
from core.vocabulary import BSUID_PATTERN
from whatsapp.signature import SIGNATURE_HEADER, sign

logger = logging.getLogger(__name__)

# Meta's limits on a text message and on the opaque callback data.
MAX_TEXT_BODY = 4096
MAX_CALLBACK_DATA = 512

# Titles Meta uses in ``error.message`` for the codes tests inject most; others get a generic one.
_ERROR_TITLES: dict[int, str] = {
    0: "AuthException",
    1: "An unknown error occurred",
    2: "Service temporarily unavailable",
    4: "Application request limit reached",
    10: "Permission denied",
    100: "Invalid parameter",
    190: "Error validating access token",
    368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131016: "Service unavailable",
    131026: "Message undeliverable",
    131031: "Account has been locked",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131057: "Account in maintenance mode",
    132000: "Template Param Count Mismatch",
    132001: "Template does not exist",
    132005: "Template Hydrated Text Too Long",
    132007: "Template Format Character Policy Violated",
    132012: "Template Parameter Format Mismatch",
    132015: "Template is Paused",
    132016: "Template is Disabled",
    133004: "Server temporarily unavailable",
    133010: "Phone number not registered",
}


class SandboxTemplate(BaseModel):
    """The template of a recorded template message, as the client named and filled it."""

    model_config = ConfigDict(frozen=True)

    name: str
    language: str = Field(description="language code, e.g. en_US")
    parameters: tuple[str, ...] = Field(description="the body's text parameters, in order")


class SandboxMessage(BaseModel):
    """One message the sandbox accepted (the access token is never recorded)."""

    model_config = ConfigDict(frozen=True)

    id: str
    # Defaults keep a text recorded before templates existed (or by an older sandbox) readable.
    kind: Literal["text", "template"] = "text"
    phone_number_id: str
    addressed_by: Literal["to", "recipient"] = Field(
        description="to: a phone number; recipient: a BSUID, for a customer without number"
    )
    to: str | None = Field(description="as the client sent it, e.g. +16505551234")
    wa_id: str | None = Field(description="digits only; null when sent to a BSUID")
    user_id: str | None = Field(description="the BSUID the message was sent to")
    body: str | None = Field(default=None, description="a text's body; null for a template")
    template: SandboxTemplate | None = Field(default=None, description="for a template only")
    callback_data: str | None
    received_at: AwareDatetime
    answered_status: int = Field(description="HTTP status the sandbox answered the send with")


_AIMED_AT = "only a send of this template (by name) consumes it; none: the next send"


class HttpFailure(BaseModel):
    """Answer the next send(s) with an HTTP error instead of accepting them."""

    kind: Literal["http"]
    status: int = Field(ge=400, le=599)
    code: int | None = Field(default=None, description="Graph API error.code; none = plain text")
    message: str | None = None
    retry_after: float | None = Field(default=None, ge=0, description="Retry-After header")
    times: int = Field(default=1, ge=1, le=1000)
    template: str | None = Field(default=None, description=_AIMED_AT)


class DelayFailure(BaseModel):
    """Sleep before handling the next send(s), to trip client timeouts."""

    kind: Literal["delay"]
    seconds: float = Field(gt=0, le=300)
    times: int = Field(default=1, ge=1, le=1000)
    template: str | None = Field(default=None, description=_AIMED_AT)


class AcceptThenFail(BaseModel):
    """Record the next send(s) as delivered, then answer an error anyway."""

    kind: Literal["accept_then_fail"]
    status: int = Field(default=500, ge=400, le=599)
    code: int | None = None
    message: str | None = None
    times: int = Field(default=1, ge=1, le=1000)
    template: str | None = Field(default=None, description=_AIMED_AT)


Failure = Annotated[HttpFailure | DelayFailure | AcceptThenFail, Field(discriminator="kind")]


class StatusFault(BaseModel):
    """What happens to the status webhooks of the next accepted message(s)."""

    mode: Literal["delayed", "lost", "unread"]
    seconds: float = Field(default=30.0, gt=0, le=3600, description="for delayed")
    times: int = Field(default=1, ge=1, le=1000)


@dataclass(frozen=True)
class StatusWebhooks:
    """Where and how the sandbox posts status webhooks, as Meta would."""

    url: str
    app_secret: bytes
    delay: float = 0.2  # seconds between accepting a message and its "sent"
    step: float = 0.2  # seconds between "sent", "delivered" and "read"
    attempts: int = 5  # posts of one status while the webhook does not answer 200


class PostedStatus(BaseModel):
    """One status webhook the sandbox posted."""

    message_id: str
    status: str
    callback_data: str | None
    answered: int | None = Field(description="HTTP status of the answer; null: no answer")


class _FailureRequest(BaseModel):
    failure: Failure


class _SendText(BaseModel):
    body: str = Field(min_length=1, max_length=MAX_TEXT_BODY)
    preview_url: StrictBool = False


class _TemplateLanguage(BaseModel):
    code: str = Field(min_length=1)


class _TemplateParameter(BaseModel):
    type: Literal["text"]
    text: str = Field(min_length=1)


class _TemplateComponent(BaseModel):
    # Header and button parameters exist at Meta; the service fills only the body's.
    type: Literal["body"]
    parameters: list[_TemplateParameter] = Field(default_factory=list)


class _SendTemplate(BaseModel):
    name: str = Field(min_length=1, max_length=512)
    language: _TemplateLanguage
    components: list[_TemplateComponent] = Field(default_factory=list, max_length=1)


class _SendRequest(BaseModel):
    """The subset of Meta's send body the sandbox supports: individual messages, to a phone
    number (``to``) or a BSUID (``recipient``); ``to`` wins when both are given. What the
    message says is ``_TextContent`` or ``_TemplateContent``, by ``type``."""

    messaging_product: Literal["whatsapp"]
    recipient_type: Literal["individual"] = "individual"
    to: str | None = Field(default=None, pattern=r"^\+?[0-9]{5,20}$")
    recipient: str | None = Field(default=None, pattern=BSUID_PATTERN)
    type: Literal["text", "template"] = "text"  # Meta's default is text too
    biz_opaque_callback_data: str | None = Field(default=None, max_length=MAX_CALLBACK_DATA)

    @model_validator(mode="after")
    def _addressed(self) -> _SendRequest:
        if self.to is None and self.recipient is None:
            raise ValueError("to or recipient is required")
        return self


# The content is validated apart from the envelope, against the model its ``type`` names, so a
# refusal names the field as Meta does (``text['body']``, ``template['language']['code']``)
# rather than a model-level "text is required".
class _TextContent(BaseModel):
    text: _SendText


class _TemplateContent(BaseModel):
    template: _SendTemplate


_CONTENT: dict[str, type[_TextContent] | type[_TemplateContent]] = {
    "text": _TextContent,
    "template": _TemplateContent,
}


@dataclass
class SandboxState:
    """Everything one sandbox instance remembers."""

    access_tokens: frozenset[str] | None
    status_webhooks: StatusWebhooks | None = None
    messages: list[SandboxMessage] = field(default_factory=list)
    failures: deque[HttpFailure | DelayFailure | AcceptThenFail] = field(default_factory=deque)
    status_faults: deque[StatusFault] = field(default_factory=deque)
    posted: list[PostedStatus] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def sandbox_state(app: FastAPI) -> SandboxState:
    """The state of a sandbox app (for tests and the local stack)."""
    state: SandboxState = app.state.sandbox
    return state


def create_sandbox_app(
    *, access_tokens: set[str] | None = None, status_webhooks: StatusWebhooks | None = None
) -> FastAPI:
    """A new sandbox Graph API; ``access_tokens=None`` accepts any non-empty bearer token.

    With ``status_webhooks``, accepted messages get their status webhooks (see the module doc).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5.0) as http:
            app.state.http = http
            try:
                yield
            finally:
                for task in list(sandbox_state(app).tasks):
                    task.cancel()

    app = FastAPI(
        title="WhatsApp Cloud API sandbox",
        description="Records outbound messages instead of delivering them.",
        lifespan=lifespan,
    )
    app.state.sandbox = SandboxState(
        access_tokens=frozenset(access_tokens) if access_tokens is not None else None,
        status_webhooks=status_webhooks,
    )

    @app.post("/{version}/{phone_number_id}/messages", tags=["graph api"])
    async def send_message(version: str, phone_number_id: str, request: Request) -> Response:
        """Meta's send-message endpoint (text and template messages)."""
        state = sandbox_state(app)
        if not _authorized(state, request.headers.get("authorization")):
            return _meta_error(401, 190, "Invalid OAuth access token - Cannot parse access token")

        try:
            raw = await request.body()
            body = json.loads(raw)
            send = _SendRequest.model_validate(body)
            content = _CONTENT[send.type].model_validate(body)
        except (ValueError, RecursionError) as exc:  # ValidationError is a ValueError
            return _meta_error(400, 100, _TITLE_100, details=_send_problem(exc))
        template = _recorded_template(content)

        failure = _take_failure(state, None if template is None else template.name)
        if isinstance(failure, DelayFailure):
            await asyncio.sleep(failure.seconds)
        if isinstance(failure, HttpFailure):
            return _failure_response(
                failure.status, failure.code, failure.message, retry_after=failure.retry_after
            )

        wa_id = None if send.to is None else send.to.removeprefix("+")
        message = SandboxMessage(
            id=_wamid(),
            phone_number_id=phone_number_id,
            addressed_by="to" if send.to is not None else "recipient",
            to=send.to,
            wa_id=wa_id,
            user_id=None if send.to is not None else send.recipient,
            kind=send.type,
            body=content.text.body if isinstance(content, _TextContent) else None,
            template=template,
            callback_data=send.biz_opaque_callback_data,
            received_at=utc_now(),
            answered_status=failure.status if isinstance(failure, AcceptThenFail) else 200,
        )
        state.messages.append(message)
        logger.info(
            "sandbox recorded %s message %s for phone_number_id=%s",
            message.kind,
            message.id,
            phone_number_id,
        )
        _report_statuses(app, message)
        if isinstance(failure, AcceptThenFail):
            return _failure_response(failure.status, failure.code, failure.message)
        contact = (
            {"input": send.to, "wa_id": wa_id}
            if send.to is not None
            else {"input": send.recipient, "user_id": send.recipient}
        )
        # Meta says how it took a template (accepted, or held for a quality check); a text, no.
        sent: dict[str, str] = {"id": message.id}
        if template is not None:
            sent["message_status"] = "accepted"
        return JSONResponse(
            {"messaging_product": "whatsapp", "contacts": [contact], "messages": [sent]}
        )

    @app.get("/_sandbox/messages", tags=["sandbox"])
    async def list_messages(phone_number_id: str | None = None) -> dict[str, list[SandboxMessage]]:
        """Recorded messages in arrival order, optionally for one business number."""
        items = sandbox_state(app).messages
        if phone_number_id is not None:
            items = [m for m in items if m.phone_number_id == phone_number_id]
        return {"items": list(items)}

    @app.delete("/_sandbox/messages", status_code=204, tags=["sandbox"])
    async def reset_messages() -> None:
        """Forget every recorded message."""
        sandbox_state(app).messages.clear()

    @app.post("/_sandbox/failures", status_code=201, tags=["sandbox"])
    async def add_failure(request: Request) -> Response:
        """Queue a failure for the next ``times`` sends."""
        try:
            failure = _FailureRequest.model_validate({"failure": json.loads(await request.body())})
        except (ValueError, RecursionError) as exc:
            errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else str(exc)
            return JSONResponse({"detail": errors}, status_code=422)
        queue = sandbox_state(app).failures
        for _ in range(failure.failure.times):
            queue.append(failure.failure)
        return JSONResponse({"pending": len(queue)}, status_code=201)

    @app.get("/_sandbox/failures", tags=["sandbox"])
    async def list_failures() -> dict[str, list[dict[str, Any]]]:
        """Failures still waiting for a send, next first."""
        return {"items": [f.model_dump() for f in sandbox_state(app).failures]}

    @app.delete("/_sandbox/failures", status_code=204, tags=["sandbox"])
    async def clear_failures() -> None:
        """Drop every pending failure."""
        sandbox_state(app).failures.clear()

    @app.post("/_sandbox/status-faults", status_code=201, tags=["sandbox"])
    async def add_status_fault(request: Request) -> Response:
        """Delay or lose the status webhooks of the next ``times`` accepted messages."""
        try:
            fault = StatusFault.model_validate(json.loads(await request.body()))
        except (ValueError, RecursionError) as exc:
            errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else str(exc)
            return JSONResponse({"detail": errors}, status_code=422)
        queue = sandbox_state(app).status_faults
        for _ in range(fault.times):
            queue.append(fault)
        return JSONResponse({"pending": len(queue)}, status_code=201)

    @app.delete("/_sandbox/status-faults", status_code=204, tags=["sandbox"])
    async def clear_status_faults() -> None:
        """Drop every pending status fault."""
        sandbox_state(app).status_faults.clear()

    @app.get("/_sandbox/statuses", tags=["sandbox"])
    async def list_statuses() -> dict[str, list[PostedStatus]]:
        """Status webhooks posted so far, in order."""
        return {"items": list(sandbox_state(app).posted)}

    return app


def _recorded_template(content: _TextContent | _TemplateContent) -> SandboxTemplate | None:
    """What the outbox keeps of a template message: name, language, body parameter texts."""
    if not isinstance(content, _TemplateContent):
        return None
    sent = content.template
    return SandboxTemplate(
        name=sent.name,
        language=sent.language.code,
        parameters=tuple(p.text for c in sent.components for p in c.parameters),
    )


def _take_failure(
    state: SandboxState, template_name: str | None
) -> HttpFailure | DelayFailure | AcceptThenFail | None:
    """The first pending failure this send consumes: one for any send, or one aimed at this
    send's template. Aimed ones stay queued, in order, until their template is sent."""
    for index, failure in enumerate(state.failures):
        if failure.template is None or failure.template == template_name:
            del state.failures[index]
            return failure
    return None


# What Meta reports of a message it delivered and the customer read, in order.
STATUSES: tuple[str, ...] = ("sent", "delivered", "read")


def _report_statuses(app: FastAPI, message: SandboxMessage) -> None:
    """Post the message's status webhooks in the background, as Meta would."""
    state = sandbox_state(app)
    config = state.status_webhooks
    if config is None:
        return
    fault = state.status_faults.popleft() if state.status_faults else None
    if fault is not None and fault.mode == "lost":
        logger.info("sandbox loses the statuses of %s", message.id)
        return
    delay = config.delay + (fault.seconds if fault is not None and fault.mode == "delayed" else 0.0)
    statuses = STATUSES[:-1] if fault is not None and fault.mode == "unread" else STATUSES
    task = asyncio.create_task(_post_statuses(app, config, message, delay=delay, statuses=statuses))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def _post_statuses(
    app: FastAPI,
    config: StatusWebhooks,
    message: SandboxMessage,
    *,
    delay: float,
    statuses: tuple[str, ...],
) -> None:
    http: httpx.AsyncClient = app.state.http
    await asyncio.sleep(delay)
    for index, status in enumerate(statuses):
        if index:
            await asyncio.sleep(config.step)
        body = json.dumps(_status_payload(message, status)).encode()
        headers = {
            SIGNATURE_HEADER: sign(config.app_secret, body),
            "Content-Type": "application/json",
        }
        answered: int | None = None
        for attempt in range(config.attempts):
            try:
                answered = (await http.post(config.url, content=body, headers=headers)).status_code
            except httpx.HTTPError:
                answered = None
            if answered == 200:
                break
            await asyncio.sleep(0.5 * 2**attempt)  # Meta backs off between redeliveries too
        sandbox_state(app).posted.append(
            PostedStatus(
                message_id=message.id,
                status=status,
                callback_data=message.callback_data,
                answered=answered,
            )
        )


def _status_payload(message: SandboxMessage, status: str) -> dict[str, Any]:
    """Meta's status webhook for one message (tests/fixtures/meta/status-*.json)."""
    item: dict[str, Any] = {
        "id": message.id,
        "status": status,
        "timestamp": str(int(utc_now().timestamp())),
    }
    if message.wa_id is not None:
        item["recipient_id"] = message.wa_id
    if message.user_id is not None:
        item["recipient_user_id"] = message.user_id
    if message.callback_data is not None:
        item["biz_opaque_callback_data"] = message.callback_data
    if status != "read":
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "type": "regular",
            # A template is priced by its category, which the sandbox does not know; the
            # service's templates (a reminder after the window) are utility ones.
            "category": "utility" if message.kind == "template" else "service",
        }
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "sandbox-waba",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550000000",
                                "phone_number_id": message.phone_number_id,
                            },
                            "statuses": [item],
                        },
                    }
                ],
            }
        ],
    }


_TITLE_100 = "(#100) Invalid parameter"


def _authorized(state: SandboxState, header: str | None) -> bool:
    if header is None:
        return False
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    return state.access_tokens is None or token in state.access_tokens


def _send_problem(exc: Exception) -> str:
    """Meta-like ``error_data.details`` for a refused body."""
    if not isinstance(exc, ValidationError):
        return "Request body is not valid JSON"
    first = exc.errors(include_url=False)[0]
    param = "".join(
        f"[{part}]" if isinstance(part, int) else f"['{part}']" for part in first["loc"][1:]
    )
    name = f"{first['loc'][0]}{param}" if first["loc"] else "body"
    return f"Param {name}: {first['msg']}"


def _failure_response(
    status: int, code: int | None, message: str | None, *, retry_after: float | None = None
) -> Response:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    if code is None:
        return PlainTextResponse(
            message or "Sandbox injected failure", status_code=status, headers=headers
        )
    title = message or _ERROR_TITLES.get(code, "Sandbox injected failure")
    return _meta_error(status, code, f"(#{code}) {title}", headers=headers)


def _meta_error(
    status: int,
    code: int,
    message: str,
    *,
    details: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error in the Graph API's shape (see fixtures/meta-webhooks/send-error-*.json)."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _wamid() -> str:
    # Real wamids are base64 of an opaque binary id behind a ``wamid.`` prefix.
    return "wamid." + base64.b64encode(secrets.token_bytes(30)).decode("ascii")
