"""Safe by default over HTTP: nothing cacheable that should not be, and no CDN code in
production (the API docs page)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.docs_page import SWAGGER_UI_VERSION
from api.pages.router import ASSETS, asset_url
from core.config import Settings
from store.repository import Store
from tests.api.conftest import Seeded, asgi_client, build_app
from tests.api.support import VERIFY_TOKEN, post_webhook, sample


def _no_store(response: httpx.Response) -> bool:
    return bool(response.headers.get("cache-control") == "no-store")


async def test_v1_answers_are_not_stored(client: httpx.AsyncClient, seeded: Seeded) -> None:
    response = await client.get(f"/v1/accounts/{seeded.account_id}")
    assert response.status_code == 200 and _no_store(response)
    settings = await client.get(f"/v1/accounts/{seeded.account_id}/session-settings")
    assert settings.status_code == 200 and _no_store(settings)


@pytest.mark.parametrize(
    ("method", "path", "authenticated", "status"),
    [
        ("GET", "/v1/accounts/acme", False, 401),
        ("GET", "/v1/accounts/nobody-here", True, 404),
        ("GET", "/no/such/route", True, 404),
        ("GET", "/v1/accounts/not%20an%20id", True, 422),
    ],
)
async def test_error_answers_are_not_stored(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    method: str,
    path: str,
    authenticated: bool,
    status: int,
) -> None:
    response = await (client if authenticated else anon).request(method, path, json={"x": 1})
    assert response.status_code == status
    assert _no_store(response)


async def test_webhook_and_health_answers_are_not_stored(
    anon: httpx.AsyncClient, seeded: Seeded
) -> None:
    accepted = await post_webhook(
        anon, sample("message-text.json", phone_number_id=seeded.phone_number_id)
    )
    assert accepted.status_code == 200 and _no_store(accepted)
    assert _no_store(await post_webhook(anon, b"junk"))
    challenge = await anon.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "7"},
    )
    assert challenge.status_code == 200 and _no_store(challenge)
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert _no_store(await anon.get(path)), path


async def test_static_assets_keep_their_own_caching(anon: httpx.AsyncClient) -> None:
    response = await anon.get(asset_url(next(iter(ASSETS))))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=86400"
    # Pages keep theirs too: they hold no data, and revalidating keeps them current.
    assert (await anon.get("/")).headers["cache-control"] == "no-cache"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


async def test_docs_outside_production_load_only_pinned_checked_files(
    anon: httpx.AsyncClient,
) -> None:
    response = await anon.get("/docs")
    assert response.status_code == 200 and _no_store(response)
    parser = _Tags()
    parser.feed(response.text)
    external = [
        attrs
        for tag, attrs in parser.tags
        if tag in ("script", "link") and "//" in (attrs.get("src") or attrs.get("href") or "")
    ]
    assert len(external) == 2  # Swagger UI's script and stylesheet, nothing else
    for attrs in external:
        url = attrs.get("src") or attrs.get("href") or ""
        assert f"swagger-ui-dist@{SWAGGER_UI_VERSION}/" in url
        assert re.fullmatch(r"\d+\.\d+\.\d+", SWAGGER_UI_VERSION)
        assert re.fullmatch(r"sha384-[A-Za-z0-9+/]{64}", attrs.get("integrity") or "")
        assert attrs.get("crossorigin") == "anonymous"
    assert "/openapi.json" in response.text
    # FastAPI's own CDN-by-major-version pages are gone.
    assert (await anon.get("/redoc")).status_code == 404


async def test_production_has_no_docs_page_but_keeps_the_schema(
    settings: Settings, store: Store, ts_env: WorkflowEnvironment, http: httpx.AsyncClient
) -> None:
    # model_copy skips validation: the test secrets are short, and this is about routes.
    production = settings.model_copy(update={"environment": "production"})
    app = build_app(production, store=store, temporal=ts_env.client, http=http)
    async with asgi_client(app, auth=False) as anon:
        assert (await anon.get("/docs")).status_code == 404
        assert (await anon.get("/redoc")).status_code == 404
        schema = await anon.get("/openapi.json")
        assert schema.status_code == 200 and "/healthz" in schema.json()["paths"]
