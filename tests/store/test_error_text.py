"""A failed statement's error text names no parameter value (store/db.py: ``hide_parameters``).

Such a text reaches log lines and, through an activity failure, Temporal's workflow history; its
parameters would be customers' numbers, names, emails and rendered reminders. Only SQLAlchemy's
own message is covered: on PostgreSQL the driver's exception underneath (``__cause__``) still
carries the server's DETAIL ("Key (wa_id)=(…) already exists"), which is why activities report
the class alone (activities/failures.py) and the API logs database failures by class.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

NUMBER = "15550009876"
BODY = "Hi Quentin Zarkovsky! Write to quentin.zarkovsky@example.org"
VALUES = (NUMBER, "Quentin", "Zarkovsky", "quentin.zarkovsky@example.org")


async def _fail(engine: AsyncEngine, statement: str, **params: object) -> DBAPIError:
    with pytest.raises(DBAPIError) as failed:
        async with engine.begin() as connection:
            await connection.execute(text(statement), params)
    return failed.value


def _assert_clean(error: DBAPIError) -> None:
    for value in VALUES:
        assert value not in str(error), str(error)
        assert value not in repr(error), repr(error)


async def test_a_statement_on_a_missing_table_names_no_parameter(engine: AsyncEngine) -> None:
    error = await _fail(
        engine,
        "INSERT INTO no_such_table (wa_id, body) VALUES (:wa_id, :body)",
        wa_id=NUMBER,
        body=BODY,
    )
    assert "parameters hidden" in str(error)
    _assert_clean(error)


async def test_constraint_violations_name_no_parameter(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE pii_probe (wa_id VARCHAR(20) PRIMARY KEY, body TEXT NOT NULL)")
        )
        await connection.execute(
            text("INSERT INTO pii_probe (wa_id, body) VALUES (:wa_id, :body)"),
            {"wa_id": NUMBER, "body": BODY},
        )
    insert = "INSERT INTO pii_probe (wa_id, body) VALUES (:wa_id, :body)"
    _assert_clean(await _fail(engine, insert, wa_id=NUMBER, body=BODY))  # unique
    _assert_clean(await _fail(engine, insert, wa_id="1" + NUMBER, body=None))  # not null


async def test_the_driver_logs_no_statement_parameters(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with engine.begin() as connection:
        await connection.execute(text("SELECT :wa_id, :body"), {"wa_id": NUMBER, "body": BODY})
    everything = "\n".join(caplog.messages)
    assert NUMBER not in everything and "Zarkovsky" not in everything
