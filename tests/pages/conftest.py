"""Fixtures of the page tests: the real API served on loopback, and a headless chromium.

- ``site``: ``create_app(settings)`` with its own lifespan (migrations on a fresh SQLite file,
  a client of the time-skipping server ``ts_env``) and a fresh account; enough for the settings
  page (saving broadcasts through a server without visibility: nothing to tell).
- ``dev_site``: the same against the Temporal dev server (visibility, for the sessions list) with
  the real worker sending through the stand-in Graph API ``graph_sandbox``.
- ``browser`` / ``page``: Debian's chromium driven by Playwright (never a downloaded browser).
  Without chromium or Playwright the browser tests skip, unless ``CI`` is set: there they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.config import Settings
from tests.support import running_worker, serve

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

API_TOKEN = "pages-test-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
APP_SECRET = "pages-test-app-secret"
KEY_SECRET = "pages-test-key-secret"
UI_URL = "http://ui.test:8233"
COMPANY = "Acme Inc."

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def make_settings(database_url: str, env: WorkflowEnvironment, **extra: Any) -> Settings:
    # A developer's SANDBOX_URL (environment or .env) must not reach the tests.
    extra.setdefault("sandbox_url", None)
    return Settings(
        _env_file=None,  # only what the test says, never a developer's .env
        environment="test",
        database_url=database_url,
        temporal_address=env.client.service_client.config.target_host,
        temporal_namespace=env.client.namespace,
        temporal_task_queue=f"pages-test-{uuid.uuid4().hex[:8]}",
        temporal_ui_url=UI_URL,
        api_token=SecretStr(API_TOKEN),
        whatsapp_app_secret=SecretStr(APP_SECRET),
        whatsapp_verify_token=SecretStr("pages-test-verify-token"),
        conversation_key_secret=SecretStr(KEY_SECRET),
        **extra,
    )


@dataclass(frozen=True)
class Site:
    """A served API with one account; ``api`` is an authenticated client of it."""

    url: str
    account_id: str
    phone_number_id: str
    settings: Settings
    api: httpx.AsyncClient

    def page_url(self, path: str = "/") -> str:
        return f"{self.url}{path}?account={self.account_id}"


def unique_account() -> tuple[str, str]:
    """An account id and business number no other test uses on a shared Temporal server."""
    suffix = uuid.uuid4().hex[:10]
    return f"pages-{suffix}", str(int(suffix, 16))


@asynccontextmanager
async def served_site(settings: Settings) -> AsyncIterator[Site]:
    """The real app (own lifespan) on loopback, with a fresh account created through the API."""
    app = create_app(settings)
    account_id, phone_number_id = unique_account()
    async with serve(app) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as api:
        created = await api.put(
            f"/v1/accounts/{account_id}",
            json={
                "company_name": COMPANY,
                "phone_number_id": phone_number_id,
                "access_token": "sandbox-token",
            },
        )
        assert created.status_code == 201, created.text
        yield Site(
            url=url,
            account_id=account_id,
            phone_number_id=phone_number_id,
            settings=settings,
            api=api,
        )


@pytest.fixture
async def site(tmp_path: Path, ts_env: WorkflowEnvironment) -> AsyncIterator[Site]:
    """The API on the time-skipping server (no visibility, no worker), not in sandbox mode."""
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'pages.db'}", ts_env)
    async with served_site(settings) as served:
        yield served


@pytest.fixture(scope="module")
async def dev_site(
    tmp_path_factory: pytest.TempPathFactory, dev_env: WorkflowEnvironment, graph_sandbox: str
) -> AsyncIterator[Site]:
    """The API and the real worker on the dev server, sending through the sandbox Graph API."""
    database = tmp_path_factory.mktemp("pages-dev") / "pages.db"
    settings = make_settings(
        f"sqlite+aiosqlite:///{database}", dev_env, whatsapp_api_base_url=graph_sandbox
    )
    async with served_site(settings) as served:
        async with running_worker(
            dev_env.client, settings.model_copy(update={"whatsapp_api_base_url": graph_sandbox})
        ):
            yield served


# -- the browser -------------------------------------------------------------------------------


def browser_unavailable(reason: str) -> NoReturn:
    """Skip where a browser is optional; in CI (``CI`` set) the browser tests must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser tests may not skip)", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str | None:
    """Debian's chromium, from PATH or its usual place."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """A headless chromium for the whole session (Debian's binary; nothing downloaded)."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        browser_unavailable("Playwright for Python is not installed (pip install playwright)")
    executable = chromium_path()
    if executable is None:
        browser_unavailable("no chromium installed (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context (empty sessionStorage) at desktop size; fails on page errors."""
    context = await browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    opened = await context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def on_console(message: Any) -> None:
        # Chrome logs every non-2xx fetch ("Failed to load resource"); the 401/404/422 the tests
        # provoke are expected. Anything else logged as an error (a CSP violation, a script
        # error) is a bug.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console error: {message.text}")

    opened.on("console", on_console)
    try:
        yield opened
    finally:
        await context.close()
    assert not problems, problems
