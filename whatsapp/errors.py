"""What can go wrong when sending through the WhatsApp Cloud API, and how to tell
(docs/sending.md#error-classification).

Pure: no httpx, no I/O, so workflow code (which runs in Temporal's sandbox) can import the
exception types and the classification.

Exception tree::

    WhatsAppError(Exception)        .code, .message, .http_status, .fbtrace_id, .error_subcode,
    │                               .details
    ├── WindowClosedError           131047: more than 24 h since the customer wrote; never retried
    ├── PermanentSendError          131026, 131031, 131048, 131062, 133010, 368, 100, 190, 0, 3, 10,
    │                               200–299; unknown codes (or no code) on any non-5xx, non-429
    ├── RetryableSendError          certainly not sent: throttling (130429, 131056, 4, 80007;
    │                               HTTP 429 without a known code) and connection failures
    │                               before the request left.  .retry_after
    └── AmbiguousSendError          the request may have reached Meta: Meta's own trouble
                                    (1, 2, 131000, 131016, 133004, 131057; HTTP 5xx without a
                                    known code), a read timeout or a connection dropped after
                                    sending, a 2xx without a message id. The caller waits for
                                    proof before it sends again (docs/sending.md#ambiguous-attempts)

``classify_error`` turns one error answer (HTTP status and Graph API ``error.code``) into the
right exception. A known code wins over the HTTP status, because Meta answers most errors with
400 whatever their nature (a 130429 throttle is retryable even on a 400).
"""

from __future__ import annotations

from typing import Any

from core.vocabulary import WINDOW_CLOSED_ERROR_CODE

# Meta's codes that no retry can fix: bad recipient, blocked or locked account, bad request,
# bad token, missing permission (the whole 200–299 block is "API permission").
# 131062: the message cannot go to a business-scoped user id (a customer known without number).
PERMANENT_CODES: frozenset[int] = frozenset(
    {131026, 131031, 131048, 131062, 133010, 368, 100, 190, 0, 3, 10, *range(200, 300)}
)
# Template messages (docs/reaching.md#template-fallback): parameter count or format wrong
# (132000, 132005 text too long, 132007 policy, 132012 format), template missing (132001),
# paused (132015) or disabled (132016). The template must be fixed in WhatsApp Manager first.
TEMPLATE_PERMANENT_CODES: frozenset[int] = frozenset(
    {132000, 132001, 132005, 132007, 132012, 132015, 132016}
)

# Throttling: Meta refused the request before acting on it, so it certainly did not send. The
# same request succeeds later.
THROTTLING_CODES: frozenset[int] = frozenset({130429, 131056, 4, 80007})

# Trouble on Meta's side: the answer is an error, but the message may have been accepted before
# it went wrong. Re-sending blindly could deliver it twice.
MAYBE_SENT_CODES: frozenset[int] = frozenset({1, 2, 131000, 131016, 133004, 131057})


class WhatsAppError(Exception):
    """A send did not (verifiably) succeed. Base of every error this package raises."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        fbtrace_id: str | None = None,
        error_subcode: int | None = None,
        details: str | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.http_status = http_status
        self.fbtrace_id = fbtrace_id
        self.error_subcode = error_subcode
        self.details = details
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.insert(0, f"(code {self.code})")
        if self.http_status is not None:
            parts.append(f"[HTTP {self.http_status}]")
        return " ".join(parts)

    def _init_kwargs(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "http_status": self.http_status,
            "fbtrace_id": self.fbtrace_id,
            "error_subcode": self.error_subcode,
            "details": self.details,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor arguments are not in ``self.args``; without this, pickling or
        # copying the exception (done by some retry and test tooling) would lose them or fail.
        return (_rebuild, (type(self), self.message, self._init_kwargs()))


class WindowClosedError(WhatsAppError):
    """131047: the 24-hour customer service window is closed. Never retried."""


class PermanentSendError(WhatsAppError):
    """Meta refused the message for a reason a retry cannot fix."""


class RetryableSendError(WhatsAppError):
    """Transient failure; the same request may be sent again after a backoff."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: int | None = None,
        http_status: int | None = None,
        fbtrace_id: str | None = None,
        error_subcode: int | None = None,
        details: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message,
            code=code,
            http_status=http_status,
            fbtrace_id=fbtrace_id,
            error_subcode=error_subcode,
            details=details,
        )

    def _init_kwargs(self) -> dict[str, Any]:
        return {**super()._init_kwargs(), "retry_after": self.retry_after}


class AmbiguousSendError(WhatsAppError):
    """The request may have reached Meta; re-sending could deliver the message twice."""


def _rebuild(cls: type[WhatsAppError], message: str, kwargs: dict[str, Any]) -> WhatsAppError:
    return cls(message, **kwargs)


def classify_error(
    *,
    http_status: int | None,
    code: int | None,
    message: str,
    error_subcode: int | None = None,
    fbtrace_id: str | None = None,
    details: str | None = None,
    retry_after: float | None = None,
) -> WhatsAppError:
    """The exception for one error answer from the Graph API (docs/sending.md#error-classification).

    ``http_status`` is None for errors that did not come with an HTTP answer (a ``failed``
    status webhook, for instance); ``retry_after`` is kept only on retryable errors.
    """
    common: dict[str, Any] = {
        "code": code,
        "http_status": http_status,
        "fbtrace_id": fbtrace_id,
        "error_subcode": error_subcode,
        "details": details,
    }
    if code == WINDOW_CLOSED_ERROR_CODE:
        return WindowClosedError(message, **common)
    if code in THROTTLING_CODES:
        return RetryableSendError(message, retry_after=retry_after, **common)
    if code in MAYBE_SENT_CODES:
        return AmbiguousSendError(message, **common)
    if code in PERMANENT_CODES or code in TEMPLATE_PERMANENT_CODES:
        return PermanentSendError(message, **common)
    # Unknown or missing code: the HTTP status is all we have. Throttling passes; server trouble
    # may have happened after the message was accepted; every other answer says the request
    # itself is wrong, and repeating it won't help.
    if http_status == 429:
        return RetryableSendError(message, retry_after=retry_after, **common)
    if http_status is not None and http_status >= 500:
        return AmbiguousSendError(message, **common)
    return PermanentSendError(message, **common)
