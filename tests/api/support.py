"""Helpers of the API tests: signed webhook posts and Meta's samples re-pointed at an account."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.meta_samples import sample_json
from tests.store.conftest import POSTGRES_URL
from tests.support import postgres_test_database
from whatsapp.signature import SIGNATURE_HEADER, sign

API_TOKEN = "test-api-token"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
KEY_SECRET = "test-key-secret"

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def sample(name: str, *, phone_number_id: str, fresh: bool = True) -> dict[str, Any]:
    """A sample payload whose every ``metadata.phone_number_id`` is ``phone_number_id``.

    ``fresh``: its messages were written a few minutes ago (the samples' own timestamps are
    long past, and a message older than the 24-hour window opens no session).
    """
    payload: dict[str, Any] = copy.deepcopy(sample_json(name))
    for entry in payload["entry"]:
        for change in entry["changes"]:
            change["value"]["metadata"]["phone_number_id"] = phone_number_id
    return recent(payload) if fresh else payload


def signed_headers(body: bytes, *, secret: str = APP_SECRET) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(secret.encode(), body), "Content-Type": "application/json"}


async def post_webhook(client: httpx.AsyncClient, payload: Any) -> httpx.Response:
    """POST ``payload`` (JSON-encoded unless already bytes), correctly signed."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await client.post("/webhooks/whatsapp", content=body, headers=signed_headers(body))


def recent(payload: dict[str, Any], *, minutes_ago: int = 5) -> dict[str, Any]:
    """``payload`` with every message timestamp moved to a few minutes ago (window still open)."""
    moment = int(time.time()) - minutes_ago * 60
    for entry in payload["entry"]:
        for change in entry["changes"]:
            for message in change["value"].get("messages", []):
                message["timestamp"] = str(moment)
    return payload


def webhook_of(phone_number_id: str, **lists: list[dict[str, Any]]) -> dict[str, Any]:
    """Meta's webhook with one change whose ``value`` holds the given ``messages=[…]`` and / or
    ``statuses=[…]`` for the business number ``phone_number_id``."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15557204190", "phone_number_id": phone_number_id},
        **lists,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


def sqlite_or_postgres_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The body of a ``database_url`` fixture parametrised ``["sqlite", "postgresql"]`` that
    shadows the API tests' SQLite-only one: a file in ``tmp_path``, or the module's
    ``postgres_database`` (each test has its own account, so tests may share it)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


def on_both_databases(prefix: str) -> tuple[Any, Any]:
    """A module's ``postgres_database`` and ``database_url`` fixtures: every test of the module
    runs on SQLite and on a PostgreSQL database of its own (named after ``prefix``).

    ``postgres_database, database_url = on_both_databases("api_x")`` at module level.
    """

    @pytest.fixture(scope="module")
    async def postgres_database() -> AsyncIterator[str]:
        async with postgres_test_database(POSTGRES_URL, prefix=prefix) as url:
            yield url

    @pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
    def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
        return sqlite_or_postgres_url(request, tmp_path)

    return postgres_database, database_url
