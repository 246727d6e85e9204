"""The pages and the outbox proxy over plain HTTP: labels, assets, headers, the token rule."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.pages.router import ASSETS
from boot import Resources
from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.repository import Store
from tests.pages.conftest import AUTH, browser_unavailable, make_settings

Handler = Callable[[httpx.Request], httpx.Response]


class _Tags(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pages-http.db'}"
    await migrate(url)
    engine = create_engine(url)
    try:
        yield Store(create_sessionmaker(engine))
    finally:
        await engine.dispose()


@pytest.fixture
async def build(
    tmp_path: Path, store: Store, ts_env: WorkflowEnvironment
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """An ASGI client of the app whose httpx client answers with ``handler``."""
    opened: list[httpx.AsyncClient] = []

    def build(
        handler: Handler | None = None,
        *,
        sandbox_url: str | None = None,
        whatsapp_api_base_url: str = "http://sandbox.test",
    ) -> httpx.AsyncClient:
        settings = make_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'pages-http.db'}",
            ts_env,
            whatsapp_api_base_url=whatsapp_api_base_url,
            sandbox_url=sandbox_url,
        )
        transport = httpx.MockTransport(handler or (lambda _: httpx.Response(599)))
        http = httpx.AsyncClient(transport=transport)
        opened.append(http)
        app: FastAPI = create_app(
            settings, resources=Resources(store=store, temporal=ts_env.client, http=http)
        )
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app.test")

    yield build
    for http in opened:
        await http.aclose()


@pytest.fixture
async def client(build: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    async with build() as client:
        yield client


SANDBOX_ITEMS = [
    {
        "id": f"wamid.{n}",
        "phone_number_id": "111",
        "addressed_by": "to",
        "to": "+16505551234",
        "wa_id": "16505551234",
        "user_id": None,
        "body": f"message {n}",
        "callback_data": None,
        "received_at": f"2025-01-01T00:00:0{n}Z",
        "answered_status": 200,
    }
    for n in range(3)
]


# -- pages ------------------------------------------------------------------------------------


async def test_settings_page_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for text in (
        "Enable Session Reset Message",
        "Session Expiry Hours",
        "Session Expiry Message",
        "Save Changes",
        "24 hours",
        "API token",
    ):
        assert text in html
    assert 'data-account="demo"' in html
    buttons = [a["data-merge-field"] for tag, a in tags_of(html) if "data-merge-field" in a]
    assert buttons == [
        "{contact_firstname}",
        "{contact_lastname}",
        "{contact_email}",
        "{contact_phone}",
        "{company_name}",
    ]
    hours = next(a for tag, a in tags_of(html) if a.get("id") == "expiry_hours")
    assert (hours["type"], hours["min"], hours["max"]) == ("number", "1", "23")


async def test_pages_hold_no_token_or_inline_code(client: httpx.AsyncClient) -> None:
    for path in ("/", "/sessions", "/outbox", "/analytics"):
        response = await client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        tags = tags_of(response.text)
        # Every script is a file of ours: the CSP would refuse inline code anyway.
        scripts = [a for tag, a in tags if tag == "script"]
        assert scripts and all((a.get("src") or "").startswith("/static/pages/") for a in scripts)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)
        assert not [a for tag, a in tags if tag == "link" and "//" in (a.get("href") or "")]


@pytest.mark.parametrize("path", ["/", "/sessions", "/outbox", "/analytics"])
async def test_the_sign_in_form_never_puts_the_token_in_a_url(
    client: httpx.AsyncClient, path: str
) -> None:
    tags = tags_of((await client.get(path)).text)
    [form] = [a for tag, a in tags if tag == "form" and a.get("id") == "signin-form"]
    assert (form.get("method") or "").lower() == "post"
    assert "action" not in form  # the page's own URL, never one built with the token
    # Without its script, the browser would POST the form to the page: refused, not echoed.
    token = "native-submit-token-0123456789"
    response = await client.post(path, params={"account": "demo"}, data={"token": token})
    assert response.status_code == 405
    assert token not in response.text
    assert token not in str(response.url) and token not in str(response.headers)


def test_the_sign_in_script_handles_the_submit_itself() -> None:
    script = ASSETS["common.js"].content.decode()
    handler = script[script.index('$("signin-form").addEventListener("submit"') :]
    assert handler.index("event.preventDefault()") < handler.index("sessionStorage.setItem")


@pytest.mark.parametrize("path", ["/", "/sessions", "/outbox", "/analytics"])
async def test_every_label_names_a_control_and_every_control_has_a_label(
    client: httpx.AsyncClient, path: str
) -> None:
    tags = tags_of((await client.get(path)).text)
    ids = {a["id"] for _, a in tags if a.get("id")}
    labelled = {a["for"] for tag, a in tags if tag == "label" and a.get("for")}
    assert labelled <= ids
    controls = {
        a["id"]
        for tag, a in tags
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden"
    }
    assert controls <= labelled, controls - labelled
    # aria-describedby only names elements that exist.
    described = {ref for _, a in tags for ref in (a.get("aria-describedby") or "").split()}
    assert described <= ids


async def test_navigation_keeps_the_account(client: httpx.AsyncClient) -> None:
    html = (await client.get("/sessions", params={"account": "acme_2"})).text
    assert 'data-account="acme_2"' in html
    links = [a["href"] for tag, a in tags_of(html) if tag == "a" and a.get("href", "") != "#main"]
    assert links == [
        "/?account=acme_2",
        "/sessions?account=acme_2",
        "/outbox?account=acme_2",
        "/analytics?account=acme_2",
    ]
    current = [a["href"] for tag, a in tags_of(html) if a.get("aria-current") == "page"]
    assert current == ["/sessions?account=acme_2"]


async def test_sessions_and_outbox_pages(client: httpx.AsyncClient) -> None:
    sessions = (await client.get("/sessions")).text
    for text in ("Last customer message", "Reminder due", "Window closes", "Load more"):
        assert text in sessions
    assert "Reminder audit trail" in sessions
    for state in ("waiting", "reminded", "paused", "expired"):
        assert f'<option value="{state}">' in sessions
    outbox = await client.get("/outbox")
    assert outbox.status_code == 200 and "Sandbox outbox" in outbox.text


async def test_the_analytics_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/analytics", params={"account": "acme_2"})
    assert response.status_code == 200
    html = response.text
    for text in ("Windows saved", "Reply rate", "Median time to reply", "Delivery funnel"):
        assert text in html
    tags = tags_of(html)
    dates = [a["id"] for tag, a in tags if tag == "input" and a.get("type") == "date"]
    assert dates == ["range-from", "range-to"]
    quick = [a["data-days"] for _, a in tags if "data-days" in a]
    assert quick == ["7", "30", "90"]
    current = [a["href"] for tag, a in tags if a.get("aria-current") == "page"]
    assert current == ["/analytics?account=acme_2"]
    # The chart is drawn by the page's own script: no image, frame or object from anywhere.
    assert not [tag for tag, _ in tags if tag in ("img", "iframe", "object", "embed")]


@pytest.mark.parametrize("account", ["a b", "x" * 65, "<script>"])
async def test_a_malformed_account_is_refused(client: httpx.AsyncClient, account: str) -> None:
    response = await client.get("/", params={"account": account})
    assert response.status_code == 422
    assert "<script>" not in response.text


# -- static assets ----------------------------------------------------------------------------


async def test_static_assets_are_served_as_referenced(client: httpx.AsyncClient) -> None:
    html = (await client.get("/")).text
    refs = [
        a.get("src") or a.get("href")
        for tag, a in tags_of(html)
        if tag in ("script", "link") and (a.get("src") or a.get("href"))
    ]
    assert len(refs) == 3  # stylesheet, common.js, settings.js
    for ref in refs:
        assert ref is not None
        response = await client.get(ref)
        assert response.status_code == 200, ref
        name = ref.split("/")[-1].split("?")[0]
        assert response.content == ASSETS[name].content
        expected = "text/css" if name.endswith(".css") else "javascript"
        assert expected in response.headers["content-type"]
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("name", ["missing.js", "..%2Frouter.py", "..%2F__init__.py", ""])
async def test_only_the_static_files_are_served(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/static/pages/{name}")
    assert response.status_code == 404


# -- the outbox proxy -------------------------------------------------------------------------


async def test_the_outbox_proxy_needs_the_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/sandbox/messages")).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await client.get("/v1/sandbox/messages", headers=wrong)).status_code == 401


async def test_the_outbox_lists_the_sandbox_newest_first(
    build: Callable[..., httpx.AsyncClient],
) -> None:
    asked: list[httpx.URL] = []

    def sandbox(request: httpx.Request) -> httpx.Response:
        asked.append(request.url)
        assert "authorization" not in request.headers  # the API token stays here
        return httpx.Response(200, json={"items": SANDBOX_ITEMS})

    async with build(sandbox) as client:
        response = await client.get(
            "/v1/sandbox/messages", params={"phone_number_id": "111"}, headers=AUTH
        )
    assert response.status_code == 200
    assert [m["body"] for m in response.json()["items"]] == ["message 2", "message 1", "message 0"]
    assert str(asked[0]) == "http://sandbox.test/_sandbox/messages?phone_number_id=111"


async def test_sandbox_url_wins_over_the_graph_api_base_url(
    build: Callable[..., httpx.AsyncClient],
) -> None:
    asked: list[str] = []

    def sandbox(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(200, json={"items": []})

    async with build(
        sandbox,
        sandbox_url="http://127.0.0.1:9/",
        whatsapp_api_base_url="https://graph.facebook.com",
    ) as client:
        response = await client.get("/v1/sandbox/messages", headers=AUTH)
    assert response.status_code == 200 and response.json() == {"items": []}
    assert asked == ["http://127.0.0.1:9/_sandbox/messages"]


async def test_not_in_sandbox_mode(build: Callable[..., httpx.AsyncClient]) -> None:
    def no_sandbox(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Not Found"})

    async with build(no_sandbox) as client:
        response = await client.get("/v1/sandbox/messages", headers=AUTH)
    assert response.status_code == 404
    assert "not in sandbox mode" in response.json()["detail"]


async def test_meta_itself_is_never_asked(build: Callable[..., httpx.AsyncClient]) -> None:
    def meta(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"asked {request.url}")

    async with build(meta, whatsapp_api_base_url="https://graph.facebook.com") as client:
        response = await client.get("/v1/sandbox/messages", headers=AUTH)
    assert response.status_code == 404
    assert "not in sandbox mode" in response.json()["detail"]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json={"items": [{"id": 1}]}),
        httpx.Response(500, text="boom"),
    ],
)
async def test_an_odd_sandbox_answer_is_a_502(
    build: Callable[..., httpx.AsyncClient], answer: httpx.Response
) -> None:
    async with build(lambda _: answer) as client:
        response = await client.get("/v1/sandbox/messages", headers=AUTH)
    assert response.status_code == 502
    assert response.json() == {"detail": "the sandbox answered unexpectedly"}


async def test_an_unreachable_sandbox_is_a_503(build: Callable[..., httpx.AsyncClient]) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with build(refused) as client:
        response = await client.get("/v1/sandbox/messages", headers=AUTH)
    assert response.status_code == 503
    assert "unreachable" in response.json()["detail"]


async def test_a_malformed_phone_number_id_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/v1/sandbox/messages", params={"phone_number_id": "../x"}, headers=AUTH
    )
    assert response.status_code == 422


# -- the browser tests' own rule ----------------------------------------------------------------


def test_a_missing_browser_skips_only_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        browser_unavailable("no chromium installed")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        browser_unavailable("no chromium installed")
