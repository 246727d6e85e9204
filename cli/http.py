"""The API seen from the command line: one ``ApiClient`` over a sync ``httpx.Client``.

Every failure the operator can do something about becomes an ``ApiError`` whose message says
what happened and what to try; the commands print it and exit with status 1, never a traceback.

    ApiError              any answer or transport failure the command cannot use
    └── ValidationFailed  a 422, with its errors grouped by field (``errors``)
"""

from __future__ import annotations

from typing import Any

import httpx

DEFAULT_TIMEOUT = 15.0


class ApiError(Exception):
    """A request failed; ``str(error)`` is the message for the operator."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ValidationFailed(ApiError):
    """The API refused the input (422); ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        lines = [f"  {field}: {'; '.join(messages)}" for field, messages in errors.items()]
        super().__init__("the API refused the input (422):\n" + "\n".join(lines), status=422)


def field_errors(detail: Any) -> dict[str, list[str]]:
    """FastAPI's ``[{"loc": ["body", "expiry_hours"], "msg": …}, …]`` grouped by field."""
    if not isinstance(detail, list):
        return {"request": [str(detail)]}
    grouped: dict[str, list[str]] = {}
    for error in detail:
        if not isinstance(error, dict):
            grouped.setdefault("request", []).append(str(error))
            continue
        loc = [str(part) for part in error.get("loc", []) if part not in ("body", "query", "path")]
        field = ".".join(loc) or "request"
        grouped.setdefault(field, []).append(str(error.get("msg", "invalid")))
    return grouped


class ApiClient:
    """Authenticated JSON calls to one deployment of the API."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        hint: str = "Is it running? Set --api-url or API_URL.",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._hint = hint
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=DEFAULT_TIMEOUT, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """The decoded JSON answer of a 2xx, else ``ApiError``."""
        response = self.send(
            method, path, json=json, content=content, headers=headers, params=params
        )
        return decode(response)

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """The raw answer (any status); transport failures become ``ApiError``."""
        try:
            response = self._http.request(
                method, path, json=json, content=content, headers=headers, params=params
            )
        except httpx.ConnectError:
            raise ApiError(
                f"cannot connect to {self.base_url} (connection refused?). {self._hint}"
            ) from None
        except httpx.TimeoutException:
            raise ApiError(f"{self.base_url} did not answer in time") from None
        except httpx.HTTPError as err:
            raise ApiError(f"request to {self.base_url} failed: {type(err).__name__}") from None
        return response


def decode(response: httpx.Response) -> Any:
    """The JSON of a successful answer, or the ``ApiError`` that explains a failed one."""
    if response.is_success:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text
    detail = _detail(response)
    status = response.status_code
    if status == 401:
        raise ApiError(
            "the API refused the credentials (401): check --token / API_TOKEN (the API token "
            "or an account token)"
            + (" or --app-secret / WHATSAPP_APP_SECRET" if "webhooks" in str(response.url) else ""),
            status=status,
        )
    if status == 403:
        # An account token outside what it may do (other accounts answer 404 instead).
        raise ApiError(
            f"not allowed with this token (403): {detail}. An account token reaches its own "
            "account only; this needs the API token.",
            status=status,
        )
    if status == 404:
        raise ApiError(f"not found (404): {detail or response.url.path}", status=status)
    if status == 422:
        raise ValidationFailed(field_errors(detail))
    if status == 501:
        raise ApiError(f"not supported by this deployment (501): {detail}", status=status)
    if status == 503:
        raise ApiError(f"the service is unavailable (503): {detail}", status=status)
    raise ApiError(f"the API answered {status}: {detail or response.reason_phrase}", status=status)


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict) and "detail" in body:
        return body["detail"]
    return body
