"""Liveness, readiness, metrics, OpenAPI, the lifespan and the JSON error contract."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.config import Settings
from store.db import create_engine, create_sessionmaker
from store.repository import Store
from tests.api.conftest import Seeded, asgi_client, build_app, make_settings
from tests.api.support import AUTH, post_webhook, sample


async def test_healthz(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_when_everything_answers(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "temporal": "ok"},
    }


async def test_readyz_names_temporal_when_it_is_down(
    settings: Settings, store: Store, http: httpx.AsyncClient, temporal_down: Client
) -> None:
    app = build_app(settings, store=store, temporal=temporal_down, http=http)
    async with asgi_client(app, auth=False) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "unavailable: temporal",
        "checks": {"database": "ok", "temporal": "unavailable"},
    }


async def test_readyz_names_the_database_when_it_is_down(
    settings: Settings, http: httpx.AsyncClient, ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    (tmp_path / "dir.db").mkdir()
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'dir.db'}")
    try:
        app = build_app(
            settings, store=Store(create_sessionmaker(engine)), temporal=ts_env.client, http=http
        )
        async with asgi_client(app, auth=False) as client:
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["detail"] == "unavailable: database"
            # Management routes answer 503 JSON too, never a bare 500.
            account = await client.get("/v1/accounts/acme", headers=AUTH)
            assert account.status_code == 503
            assert account.json() == {"detail": "database is unavailable, retry later"}
    finally:
        await engine.dispose()


async def test_not_started_is_503(settings: Settings) -> None:
    app = create_app(settings)  # lifespan not run: no resources yet
    async with asgi_client(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 503
        response = await client.get("/v1/accounts/acme")
        assert response.status_code == 503
        assert "starting" in response.json()["detail"]


async def test_metrics_are_per_app(
    app: FastAPI, anon: httpx.AsyncClient, seeded: Seeded, settings: Settings, store: Store
) -> None:
    await post_webhook(anon, sample("message-text.json", phone_number_id=seeded.phone_number_id))
    await post_webhook(anon, b"junk")
    response = await anon.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'whatsapp_webhook_requests_total{result="accepted"} 1.0' in text
    assert 'whatsapp_webhook_requests_total{result="invalid"} 1.0' in text
    assert 'whatsapp_webhook_items_total{kind="message"} 1.0' in text
    assert 'temporal_signals_sent_total{signal="customer_message"} 1.0' in text
    assert "whatsapp_webhook_seconds_bucket" in text

    # A second app in the same process starts from zero (no global registry).
    other = create_app(settings)
    async with asgi_client(other, auth=False) as client:
        assert "result=" not in (await client.get("/metrics")).text


async def test_openapi_is_served(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/docs")).status_code == 200
    spec = (await anon.get("/openapi.json")).json()
    for path in (
        "/healthz",
        "/readyz",
        "/metrics",
        "/webhooks/whatsapp",
        "/v1/accounts/{account_id}",
        "/v1/accounts/{account_id}/session-settings",
        "/v1/accounts/{account_id}/session-settings/preview",
        "/v1/accounts/{account_id}/contacts/{wa_id}",
        "/v1/accounts/{account_id}/sessions",
        "/v1/accounts/{account_id}/sessions/{wa_id}",
        "/v1/accounts/{account_id}/reminders",
    ):
        assert path in spec["paths"], path
        for operation in spec["paths"][path].values():
            assert operation.get("description") or operation.get("summary")


async def test_unknown_route_is_json_404(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_lifespan_migrates_connects_and_closes(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    target = ts_env.client.service_client.config.target_host
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'api.db'}",
        temporal_address=target,
        namespace=ts_env.client.namespace,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        created = await client.put(
            "/v1/accounts/lifespan",
            json={"company_name": "A", "phone_number_id": "777", "access_token": "t"},
        )
        assert created.status_code == 201
    assert app.state.resources is None
