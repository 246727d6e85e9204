"""``RequestGuard``: the ASGI middleware that bounds every request body and, under ``/v1``,
authenticates the bearer token — before any of the body is read.

FastAPI reads and parses a request body before it solves a route's dependencies, so a token
check written as a dependency runs after an unauthenticated 12 MB JSON body has been parsed
(about a second of CPU). This guard runs first, on the headers alone:

1. **Size, as declared.** A ``Content-Length`` above the path's limit → 413.
2. **Token** (``/v1`` only). The admin ``API_TOKEN`` is compared in constant time; a value that
   looks like an account token (``wst_…``) is hashed and looked up in the store (one indexed
   SELECT per request, so a revocation takes effect at once). Anything else → 401 with
   ``WWW-Authenticate: Bearer``, and not one byte of the body is read.
3. **Size, as streamed.** ``receive`` is wrapped so that a body without a (truthful)
   ``Content-Length`` is cut off at the same limit → 413.

A refused body is read and dropped up to a bound before the 413 goes out: a client that sends
its whole body before reading (Python's urllib with ``Connection: close``) would otherwise find
the connection reset instead of the answer. Errors keep the ``{"detail": …}`` shape.

Who the caller is (``Principal``: the admin, or one account) goes into the ASGI scope's state,
where ``api.deps`` reads it to decide what the caller may reach (docs/http-api.md).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers, State
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import DATABASE, ServiceUnavailable
from boot import Resources
from core.api_tokens import looks_like_account_token, token_hash
from core.config import Settings
from whatsapp.webhook import MAX_WEBHOOK_BYTES

logger = logging.getLogger(__name__)

# The largest legitimate /v1 body is a settings save at every bound of core.reach, the
# message's 1000 characters and a price for every country calling code (core.prices): about
# 70 KiB if every character of the texts took a JSON-escaped surrogate pair
# (tests/api/test_settings_reach.py); 96 KiB refuses anything built to make the JSON parser work.
MAX_API_BODY_BYTES: Final = 96 * 1024
# Elsewhere nothing legitimate is bigger than a webhook (whose route applies this same limit
# itself); every other route outside /v1 takes no body at all.
MAX_OTHER_BODY_BYTES: Final = MAX_WEBHOOK_BYTES
# How much of a refused body is read (and dropped) so that its sender can read the 413.
MAX_API_DRAIN_BYTES: Final = 16 * MAX_API_BODY_BYTES
MAX_OTHER_DRAIN_BYTES: Final = 8 * MAX_OTHER_BODY_BYTES

# The webhook route caps its own body at MAX_WEBHOOK_BYTES, drains the same way and counts what
# it refuses in its metrics (result "too_large"); the guard leaves that path's body to it.
SELF_LIMITED_PATHS: Final = frozenset({"/webhooks/whatsapp"})

PRINCIPAL_KEY: Final = "principal"
UNAUTHORIZED_DETAIL: Final = "missing or invalid bearer token"
STARTING_DETAIL: Final = "the service is starting, retry later"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a /v1 request: the admin token (``account_id`` None) or one account's token."""

    account_id: str | None = None
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.account_id is None

    def reaches(self, account_id: str) -> bool:
        """Whether this caller may see ``account_id`` at all."""
        return self.account_id is None or self.account_id == account_id


ADMIN: Final = Principal()


def principal_of(scope: Scope) -> Principal | None:
    """The principal the guard put into this request's scope (None: it did not run)."""
    found = scope.get("state", {}).get(PRINCIPAL_KEY)
    return found if isinstance(found, Principal) else None


def too_large_detail(limit: int) -> str:
    return f"body larger than {limit} bytes"


class _BodyTooLarge(HTTPException):
    # An HTTPException on purpose: FastAPI re-raises those from its body reading untouched
    # (anything else would become a 400 "error parsing the body").
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_detail(limit))


class _Refused(Exception):
    """The guard answers this request itself."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


class RequestGuard:
    """Body limits everywhere, bearer authentication under ``/v1`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, state: State) -> None:
        self.app = app
        # The app's state: its settings, and its resources once the lifespan has opened them.
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in SELF_LIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        api = path == "/v1" or path.startswith("/v1/")
        limit, drain = (
            (MAX_API_BODY_BYTES, MAX_API_DRAIN_BYTES)
            if api
            else (MAX_OTHER_BODY_BYTES, MAX_OTHER_DRAIN_BYTES)
        )
        headers = Headers(scope=scope)
        try:
            declared = _content_length(headers)
            if declared is not None and declared > limit:
                # Draining a body larger than the bound would not make the answer readable.
                if declared <= drain:
                    await _drain(receive, received=0, bound=drain)
                raise _Refused(413, too_large_detail(limit))
            if api:
                principal = await self._authenticate(headers.get("authorization"))
                # A new state dict: the server may share the one it put into the scope.
                scope["state"] = {**scope.get("state", {}), PRINCIPAL_KEY: principal}
        except _Refused as refused:
            response = JSONResponse(
                {"detail": refused.detail}, status_code=refused.status, headers=refused.headers
            )
            await response(scope, receive, send)
            return
        await _CappedRequest(self.app, limit=limit, drain=drain)(scope, receive, send)

    async def _authenticate(self, authorization: str | None) -> Principal:
        scheme, _, credentials = (authorization or "").partition(" ")
        token = credentials.strip() if scheme.lower() == "bearer" else ""
        settings = self._state.settings
        assert isinstance(settings, Settings)
        expected = settings.api_token.get_secret_value().encode()
        # An empty API_TOKEN never matches (not even an empty header).
        if token and expected and hmac.compare_digest(token.encode(), expected):
            return ADMIN
        if not looks_like_account_token(token):
            raise _unauthorized()
        resources = getattr(self._state, "resources", None)
        if not isinstance(resources, Resources):
            # Only between process start and the end of the lifespan's start-up.
            raise _Refused(503, STARTING_DETAIL)
        try:
            found = await resources.store.tokens.find_active_by_hash(token_hash=token_hash(token))
        except (SQLAlchemyError, OSError, TimeoutError) as err:
            # Only the class name: nothing of the token reaches the log.
            logger.warning("token lookup failed (%s)", type(err).__name__)
            raise _Refused(503, ServiceUnavailable(DATABASE).detail) from None
        if found is None:
            raise _unauthorized()
        return Principal(account_id=found.account_id, token_id=found.token_id)


def _unauthorized() -> _Refused:
    return _Refused(401, UNAUTHORIZED_DETAIL, {"WWW-Authenticate": "Bearer"})


def _content_length(headers: Headers) -> int | None:
    declared = headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


async def _drain(receive: Receive, *, received: int, bound: int) -> None:
    """Read and drop the rest of the body, until its end or past ``bound`` bytes in all."""
    while received <= bound:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        received += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class _CappedRequest:
    """One request passed on with its streamed body capped at ``limit`` bytes.

    Past the limit, ``receive`` drains the rest (up to ``drain``) and raises ``_BodyTooLarge``;
    whatever the app answers then is replaced by the guard's 413, so the answer does not depend
    on how a route reacts to the exception.
    """

    def __init__(self, app: ASGIApp, *, limit: int, drain: int) -> None:
        self._app = app
        self._limit = limit
        self._drain = drain
        self._received = 0
        self._exceeded = False
        self._started = False
        self._replaced = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def capped_receive() -> Message:
            if self._exceeded:
                raise _BodyTooLarge(self._limit)
            message = await receive()
            if message["type"] == "http.request":
                self._received += len(message.get("body", b""))
                if self._received > self._limit:
                    self._exceeded = True
                    if message.get("more_body", False):
                        await _drain(receive, received=self._received, bound=self._drain)
                    raise _BodyTooLarge(self._limit)
            return message

        async def guarded_send(message: Message) -> None:
            if self._replaced:
                return  # the rest of an answer the guard's 413 stands in for
            if message["type"] == "http.response.start":
                self._started = True
                if self._exceeded:
                    self._replaced = True
                    await self._too_large(scope, send)
                    return
            await send(message)

        try:
            await self._app(scope, capped_receive, guarded_send)
        except _BodyTooLarge:
            if self._started and not self._replaced:
                raise  # an answer was already under way: nothing readable can follow
        if self._exceeded and not self._started:
            self._started = self._replaced = True
            await self._too_large(scope, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        response = JSONResponse({"detail": too_large_detail(self._limit)}, status_code=413)

        async def nothing() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)
