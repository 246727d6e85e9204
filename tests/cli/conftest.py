"""Fixtures of the CLI tests: the real API served over HTTP on loopback, and a CLI runner.

The API is ``api.app.create_app(settings)`` with its own lifespan (migrations on a fresh SQLite
file, a real Temporal client), served by uvicorn on the test's event loop. ``CliRunner`` is
synchronous, so commands run in a thread (``Cli.run``) while the loop keeps serving.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from api.app import create_app
from cli.main import app as cli_app
from core.config import Settings
from tests.support import running_worker, serve

API_TOKEN = "cli-test-token"
APP_SECRET = "cli-test-app-secret"
KEY_SECRET = "cli-test-key-secret"
UI_URL = "http://ui.test:8233"


def make_settings(database_url: str, env: WorkflowEnvironment) -> Settings:
    return Settings(
        _env_file=None,
        environment="test",
        database_url=database_url,
        temporal_address=env.client.service_client.config.target_host,
        temporal_namespace=env.client.namespace,
        temporal_task_queue=f"cli-test-{uuid.uuid4().hex[:8]}",
        temporal_ui_url=UI_URL,
        api_token=SecretStr(API_TOKEN),
        whatsapp_app_secret=SecretStr(APP_SECRET),
        whatsapp_verify_token=SecretStr("cli-test-verify-token"),
        conversation_key_secret=SecretStr(KEY_SECRET),
    )


@dataclass
class Cli:
    """Runs ``wa-sessions`` against one API, with every global option given explicitly."""

    api_url: str
    account: str
    settings: Settings | None = None
    token: str = API_TOKEN
    app_secret: str = APP_SECRET
    runner: CliRunner = field(default_factory=CliRunner)

    async def run(self, *args: str, token: str | None = None, input: str | None = None) -> Result:
        options = [
            "--api-url",
            self.api_url,
            "--token",
            self.token if token is None else token,
            "--account",
            self.account,
            "--app-secret",
            self.app_secret,
        ]
        # An empty env keeps the developer's own API_URL/API_TOKEN out of the test.
        env = {"API_URL": None, "API_TOKEN": None, "ACCOUNT_ID": None, "WHATSAPP_APP_SECRET": None}
        return await asyncio.to_thread(
            lambda: self.runner.invoke(cli_app, [*options, *args], input=input, env=env)
        )

    async def ok(self, *args: str) -> str:
        """Run a command that must succeed; its stdout."""
        result = await self.run(*args)
        assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
        return result.stdout


def unique_account() -> tuple[str, str]:
    """An account id and business number no other test uses on the shared Temporal server."""
    suffix = uuid.uuid4().hex[:10]
    return f"cli-{suffix}", str(int(suffix, 16))


async def _serve_cli(settings: Settings) -> AsyncIterator[Cli]:
    account, _ = unique_account()
    async with serve(create_app(settings)) as url:
        yield Cli(api_url=url, account=account, settings=settings)


@pytest.fixture
def settings(tmp_path: Path, ts_env: WorkflowEnvironment) -> Settings:
    return make_settings(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", ts_env)


@pytest.fixture
async def cli(settings: Settings) -> AsyncIterator[Cli]:
    """The CLI against a real API on the time-skipping server (no visibility queries there)."""
    async for runner in _serve_cli(settings):
        yield runner


@pytest.fixture
async def dev_cli(
    tmp_path: Path, dev_env: WorkflowEnvironment, graph_sandbox: str
) -> AsyncIterator[Cli]:
    """The CLI against a real API and the real worker on the dev server (sandbox Graph API)."""
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'cli-dev.db'}", dev_env)
    async for runner in _serve_cli(settings):
        async with running_worker(
            dev_env.client, settings.model_copy(update={"whatsapp_api_base_url": graph_sandbox})
        ):
            yield runner
