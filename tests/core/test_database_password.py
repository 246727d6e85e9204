"""DATABASE_PASSWORD: a database password with any characters, never pasted into a URL.

docker-compose.yml passes DATABASE_URL without a password and the password on its own; a
password holding ``@``, ``/``, ``%`` or ``:`` pasted into the URL's text would be parsed as
part of the host or the path and fail every connection. ``Settings.database_engine_url()`` sets
it on the parsed URL instead, and these tests follow it to what asyncpg sends on the wire and to
a real PostgreSQL login.
"""

from __future__ import annotations

import asyncio
import os
import struct
import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from core.config import Settings
from store.db import create_engine
from store.migrate import migrate

PASSWORD = "p@ss/w%rd:#?&x"  # every character a URL would give a meaning to
URL_WITHOUT_PASSWORD = "postgresql+asyncpg://wa@postgres:5432/whatsapp_sessions"
ADMIN_URL = os.environ.get(
    "STORE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def _settings(database_url: str = URL_WITHOUT_PASSWORD, **env: str) -> Settings:
    return Settings(_env_file=None, database_url=database_url, **env)  # type: ignore[arg-type]


def test_the_password_is_set_on_the_url_exactly() -> None:
    url = _settings(database_password=PASSWORD).database_engine_url()
    assert url.password == PASSWORD
    assert (url.username, url.host, url.port, url.database) == (
        "wa",
        "postgres",
        5432,
        "whatsapp_sessions",
    )
    assert url.drivername == "postgresql+asyncpg"


def test_it_replaces_a_password_in_the_url() -> None:
    settings = _settings("postgresql+asyncpg://wa:old@postgres/db", database_password=PASSWORD)
    assert settings.database_engine_url().password == PASSWORD


def test_without_it_the_url_is_used_as_written() -> None:
    # An escaped password in DATABASE_URL keeps working: make_url unescapes it.
    url = _settings("postgresql+asyncpg://wa:p%40ss@postgres/db").database_engine_url()
    assert url.password == "p@ss"
    assert _settings().database_engine_url().password is None


def test_asyncpg_receives_the_exact_password() -> None:
    url = _settings(database_password=PASSWORD).database_engine_url()
    engine = create_engine(url)
    _args, kwargs = engine.dialect.create_connect_args(engine.url)
    assert kwargs["password"] == PASSWORD
    assert kwargs["host"] == "postgres"
    assert kwargs["database"] == "whatsapp_sessions"


def test_the_password_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_PASSWORD", PASSWORD)
    settings = Settings(_env_file=None, database_url=URL_WITHOUT_PASSWORD)
    url = settings.database_engine_url()
    for shown in (str(url), repr(url), repr(settings), str(settings)):
        assert PASSWORD not in shown
    assert str(create_engine(url).url).count("***") == 1


def test_a_password_for_sqlite_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError, match="DATABASE_PASSWORD") as raised:
        _settings("sqlite+aiosqlite:///./data/sessions.db", database_password=PASSWORD)
    assert PASSWORD not in str(raised.value)


async def test_asyncpg_sends_the_exact_password_on_the_wire() -> None:
    """A stand-in server that asks for a cleartext password and records what arrives.

    The local PostgreSQL trusts 127.0.0.1 (it never asks for a password), so this is where
    the exact bytes asyncpg sends are checked.
    """
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack("!I", await reader.readexactly(4))
                body = await reader.readexactly(length - 4)
                if struct.unpack("!I", body[:4])[0] == 80877103:  # SSLRequest: no TLS here
                    writer.write(b"N")
                    await writer.drain()
                    continue
                break  # the startup message
            writer.write(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
            await writer.drain()
            kind = await reader.readexactly(1)
            (length,) = struct.unpack("!I", await reader.readexactly(4))
            message = await reader.readexactly(length - 4)
            assert kind == b"p"
            received.set_result(message.rstrip(b"\0"))
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = _settings(
        f"postgresql+asyncpg://wa@127.0.0.1:{port}/db", database_password=PASSWORD
    ).database_engine_url()
    engine = create_engine(url)
    try:
        with pytest.raises((DBAPIError, OSError)):  # the stand-in hangs up after the password
            async with engine.connect():
                pass
        assert (await asyncio.wait_for(received, 5)).decode() == PASSWORD
    finally:
        await engine.dispose()
        server.close()
        await server.wait_closed()


@pytest.fixture
async def special_role() -> AsyncIterator[tuple[str, str]]:
    """A login role and its own database, both named with URL-special characters."""
    suffix = uuid.uuid4().hex[:8]
    role, database = f"wa@user/{suffix}%", f"wa_db/{suffix}@x"
    admin = create_async_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5}
    )
    try:
        async with admin.connect() as connection:
            quoted_password = PASSWORD.replace("'", "''")
            await connection.exec_driver_sql(
                f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{quoted_password}'"
            )
            await connection.exec_driver_sql(f'CREATE DATABASE "{database}" OWNER "{role}"')
    except (OSError, DBAPIError, TimeoutError) as error:
        await admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL unusable: {error!r}")
        pytest.skip(f"PostgreSQL unusable: {error!r}")
    try:
        yield role, database
    finally:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await connection.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        await admin.dispose()


@pytest.mark.postgres
async def test_a_real_login_and_migration_with_special_characters(
    special_role: tuple[str, str],
) -> None:
    """Role, database and password all full of URL-special characters: migrate, then query.

    Where pg_hba trusts the client (this repository's CI), the server does not check the
    password: the wire test above covers it; the role and database names are checked here.
    """
    role, database = special_role
    admin_url = make_url(ADMIN_URL)
    url = admin_url.set(username=role, password=PASSWORD, database=database)
    settings = _settings(
        url.set(password=None).render_as_string(hide_password=False),
        database_password=PASSWORD,
    )
    engine_url = settings.database_engine_url()
    assert engine_url.password == PASSWORD
    await migrate(engine_url)
    engine = create_engine(engine_url)
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    text("SELECT current_user, current_database(), to_regclass('accounts')")
                )
            ).one()
    finally:
        await engine.dispose()
    assert (row[0], row[1]) == (role, database)
    assert row[2] is not None
