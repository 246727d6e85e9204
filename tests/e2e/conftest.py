"""Fixtures of the end-to-end tests: one Temporal dev server for the session, one PostgreSQL
database for the session, and per test module a whole stack (stand-in Graph API, API, worker)
on each database — a SQLite file and PostgreSQL.

The PostgreSQL parameter is skipped only when the server is unreachable and ``CI`` is unset;
in CI it fails instead. Every stack has its own task queue, and every test its own account and
customer, so tests sharing the dev server never see each other's sessions.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.e2e.support import Stack, open_stack
from tests.support import postgres_test_database

# A maintenance database of the server: the test database is created and dropped from it.
POSTGRES_ADMIN_URL = os.environ.get(
    "E2E_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
async def e2e_postgres_url() -> AsyncIterator[str]:
    """URL of a PostgreSQL database created for this test session and dropped after it."""
    async with postgres_test_database(POSTGRES_ADMIN_URL, prefix="e2e_test") as url:
        yield url


@dataclass(frozen=True)
class Database:
    name: str
    url: str
    scratch: Path
    postgres_admin_url: str | None = None


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Database:
    """The parametrized database (synchronous: only a sync fixture may request one lazily)."""
    name: str = request.param
    scratch = tmp_path_factory.mktemp(f"e2e-{name}")
    if name == "sqlite":
        return Database(name, f"sqlite+aiosqlite:///{scratch / 'data' / 'sessions.db'}", scratch)
    url: str = request.getfixturevalue("e2e_postgres_url")
    return Database(name, url, scratch, postgres_admin_url=POSTGRES_ADMIN_URL)


@pytest.fixture(scope="module")
async def stack(
    request: pytest.FixtureRequest, database: Database, dev_env: WorkflowEnvironment
) -> AsyncIterator[Stack]:
    """The whole service for this test module, on the parametrized database."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    async with open_stack(
        database=database.name,
        database_url=database.url,
        temporal=dev_env.client,
        task_queue=f"e2e-{module}-{database.name}-{uuid.uuid4().hex[:8]}",
        scratch=database.scratch,
        postgres_admin_url=database.postgres_admin_url,
    ) as opened:
        yield opened
