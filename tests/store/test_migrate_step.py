"""Migrations as a step of their own (docs/operating.md#database-migrations): the schema check a
process makes with ``MIGRATE_ON_START=false``, and ``python -m store.migrate``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from temporalio.client import Client

from boot import open_resources
from core.config import Settings
from store.db import WRITE_INTENT, create_engine
from store.migrate import (
    SchemaNotAtHeadError,
    alembic_config,
    check_at_head,
    current_revision,
    head_revision,
    migrate,
)

ROOT = Path(__file__).resolve().parents[2]


def _first_revision() -> str:
    revisions = list(ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions())
    first = revisions[-1].revision
    assert first != head_revision()
    return first


async def _upgrade_to(database_url: str, revision: str) -> None:
    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(database_url, connection=connection), revision)

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(**{WRITE_INTENT: True})
            async with connection.begin():
                await connection.run_sync(upgrade)
    finally:
        await engine.dispose()


async def test_empty_database_is_not_at_head(empty_database_url: str) -> None:
    assert await current_revision(empty_database_url) is None
    with pytest.raises(SchemaNotAtHeadError, match="none \\(empty database\\)") as refused:
        await check_at_head(empty_database_url)
    assert "python -m store.migrate" in str(refused.value)
    assert head_revision() in str(refused.value)


async def test_old_revision_is_refused(empty_database_url: str) -> None:
    first = _first_revision()
    await _upgrade_to(empty_database_url, first)
    assert await current_revision(empty_database_url) == first
    with pytest.raises(SchemaNotAtHeadError, match=f"at revision {first}, "):
        await check_at_head(empty_database_url)


async def test_migrated_database_passes(empty_database_url: str) -> None:
    await migrate(empty_database_url)
    assert await current_revision(empty_database_url) == head_revision()
    await check_at_head(empty_database_url)  # no error


async def test_a_newer_release_schema_is_served_by_an_old_process(
    empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A rolling deploy: the migration step ran for the next release, whose revision this code
    does not know; an old process that restarts now still starts (migrations only add)."""
    await migrate(empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(**{WRITE_INTENT: True})
            async with connection.begin():
                await connection.exec_driver_sql(
                    "UPDATE alembic_version SET version_num = '9999_next_release'"
                )
    finally:
        await engine.dispose()
    await check_at_head(empty_database_url)  # no error
    assert "9999_next_release, newer than this release's" in caplog.text


class _FakeTemporal:
    namespace = "default"


def _settings(database_url: str, *, migrate_on_start: bool) -> Settings:
    return Settings(
        database_url=database_url,
        migrate_on_start=migrate_on_start,
        temporal_register_search_attributes=False,
    )


async def test_start_up_without_migrating_refuses_an_old_schema(
    empty_database_url: str,
) -> None:
    settings = _settings(empty_database_url, migrate_on_start=False)
    temporal = cast(Client, _FakeTemporal())
    with pytest.raises(SchemaNotAtHeadError):
        async with open_resources(settings, temporal=temporal):
            pytest.fail("started on an empty database")
    # It did not migrate either.
    assert await current_revision(empty_database_url) is None


async def test_start_up_without_migrating_runs_on_a_schema_at_head(
    empty_database_url: str,
) -> None:
    await migrate(empty_database_url)
    settings = _settings(empty_database_url, migrate_on_start=False)
    async with open_resources(settings, temporal=cast(Client, _FakeTemporal())) as resources:
        await resources.store.ping()  # raises if the store cannot reach its database
        assert resources.temporal.namespace == "default"
    assert await current_revision(empty_database_url) == head_revision()


async def test_start_up_migrates_by_default(empty_database_url: str) -> None:
    settings = _settings(empty_database_url, migrate_on_start=True)
    assert Settings.model_fields["migrate_on_start"].default is True
    async with open_resources(settings, temporal=cast(Client, _FakeTemporal())):
        pass
    assert await current_revision(empty_database_url) == head_revision()


def _clean_env(**overrides: str) -> dict[str, Any]:
    ours = {name.upper() for name in Settings.model_fields}
    env = {name: value for name, value in os.environ.items() if name not in ours}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(overrides)
    return env


async def test_python_m_store_migrate_brings_the_database_to_head(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path}/data/sessions.db"
    result = subprocess.run(
        [sys.executable, "-m", "store.migrate"],
        env=_clean_env(DATABASE_URL=database_url),
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "database schema is at head" in result.stderr
    assert await current_revision(database_url) == head_revision()


def test_python_m_store_migrate_reads_database_password(tmp_path: Path) -> None:
    # DATABASE_PASSWORD with a SQLite URL is refused by Settings: proof the command reads
    # Settings (and so DATABASE_PASSWORD) rather than DATABASE_URL alone; the value never shows.
    result = subprocess.run(
        [sys.executable, "-m", "store.migrate"],
        env=_clean_env(
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db", DATABASE_PASSWORD="s3cret-pw"
        ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "DATABASE_PASSWORD is set but DATABASE_URL is a SQLite file" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout
