"""End to end: upgrading a database the previous schema filled, with a session waiting.

Before customers could be named by BSUID, contacts were keyed by phone number (revision 0002).
The test builds exactly that: an account, its settings, a contact row written by the old schema,
and a waiting session started the way the old webhook started it. Then the service starts on
the database (which migrates it to head) and Meta names the customer the 2026 way — number and
BSUID. The message reaches the same workflow id and the same run, and the one reminder follows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core import temporal_names as names
from core.contract import ConversationInput, CustomerMessage
from core.conversation_key import conversation_key
from core.temporal import start_conversation
from store.db import create_engine, create_sessionmaker
from store.migrate import alembic_config
from store.repository import Store
from tests.e2e.conftest import POSTGRES_ADMIN_URL
from tests.e2e.support import (
    HOUR,
    KEY_SECRET,
    Account,
    ago,
    customer_webhook,
    new_bsuid,
    new_customer,
    open_stack,
    stays,
)
from tests.support import eventually, postgres_test_database

pytestmark = pytest.mark.devserver

PREVIOUS_REVISION = "0002"
TEMPLATE = "Hi {contact_firstname}, still there?"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def empty_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, str]]:
    """(name, URL) of a database nothing has touched yet."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("upgrade") / "sessions.db"
        yield "sqlite", f"sqlite+aiosqlite:///{path}"
        return
    async with postgres_test_database(POSTGRES_ADMIN_URL, prefix="e2e_upgrade") as url:
        yield "postgresql", url


def _upgrade(connection: Connection, database_url: str) -> None:
    command.upgrade(alembic_config(database_url, connection=connection), PREVIOUS_REVISION)


async def _fill_like_the_previous_version(
    database_url: str, account: Account, *, wa_id: str, key: str
) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, database_url)
        # Accounts are the same in both schemas.
        store = Store(create_sessionmaker(engine))
        await store.accounts.upsert(
            account_id=account.account_id,
            company_name="Acme Upgrade",
            phone_number_id=account.phone_number_id,
            access_token="EAAG-e2e-access-token",
        )
        async with engine.begin() as connection:
            # Settings and contacts are written as the previous version wrote them: its
            # settings had three fields, its contacts were keyed by number, without BSUIDs.
            await connection.execute(
                text(
                    "INSERT INTO session_settings (account_id, enabled, expiry_hours, message, "
                    "updated_at, version, delivered_version) "
                    "VALUES (:account, true, 1, :message, :now, 1, 1)"
                ),
                {"account": account.account_id, "message": TEMPLATE, "now": _now()},
            )
            await connection.execute(
                text(
                    "INSERT INTO contacts (account_id, wa_id, conversation_key, profile_name, "
                    "created_at, updated_at) VALUES (:account, :wa_id, :key, 'Sheena Nelson', "
                    ":now, :now)"
                ),
                {"account": account.account_id, "wa_id": wa_id, "key": key, "now": _now()},
            )
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        assert version == PREVIOUS_REVISION
    finally:
        await engine.dispose()


def _now() -> datetime:
    return datetime.now(UTC)


async def _start_session_like_the_previous_version(
    client: Client, task_queue: str, account: Account, *, key: str, sent_at: int
) -> str:
    handle = await start_conversation(
        client,
        task_queue=task_queue,
        conversation=ConversationInput(account_id=account.account_id, conversation_key=key),
        message=CustomerMessage(
            message_id=f"wamid.BEFORE{uuid.uuid4().hex}",
            sent_at=datetime.fromtimestamp(sent_at, UTC),
            received_at=_now(),
        ),
    )
    assert handle.result_run_id is not None
    return handle.result_run_id


async def test_a_session_waiting_across_the_upgrade_keeps_its_workflow(
    empty_database: tuple[str, str],
    dev_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    database, database_url = empty_database
    suffix = uuid.uuid4().hex[:10]
    account = Account(account_id=f"e2e-up-{suffix}", phone_number_id=str(int(suffix, 16)))
    number, bsuid = new_customer(), new_bsuid()
    key = conversation_key(secret=KEY_SECRET, account_id=account.account_id, wa_id=number)
    workflow_id = names.conversation_workflow_id(
        account_id=account.account_id, conversation_key=key
    )
    task_queue = f"e2e-upgrade-{database}-{suffix}"

    await _fill_like_the_previous_version(database_url, account, wa_id=number, key=key)
    # Silent for 59 min 40 s: the reminder falls due a little after the service is back.
    first_at = ago(HOUR - 20)
    run_id = await _start_session_like_the_previous_version(
        dev_env.client, task_queue, account, key=key, sent_at=first_at
    )

    async with open_stack(
        database=database,
        database_url=database_url,
        temporal=dev_env.client,
        task_queue=task_queue,
        scratch=tmp_path_factory.mktemp("upgrade-stack"),
    ) as stack:
        waiting = await eventually(
            lambda: stack.session(account, number),
            lambda r: r.status_code == 200 and r.json()["state"] == "waiting",
        )
        assert (waiting.json()["workflow_id"], waiting.json()["run_id"]) == (workflow_id, run_id)

        # Meta now names the customer by number and BSUID. The message was written before the
        # first one (webhooks come out of order), so the silence and its due time stay.
        response = await stack.post_webhook(
            customer_webhook(
                account.phone_number_id,
                wa_id=number,
                user_id=bsuid,
                username="@sheena",
                timestamp=ago(HOUR - 25),
            )
        )
        assert response.status_code == 200, response.text
        assert response.json()["conversations"] == 1

        by_bsuid = await stack.session(account, bsuid)
        assert by_bsuid.status_code == 200, by_bsuid.text
        assert (by_bsuid.json()["workflow_id"], by_bsuid.json()["run_id"]) == (workflow_id, run_id)
        assert (by_bsuid.json()["wa_id"], by_bsuid.json()["username"]) == (number, "@sheena")

        # The one reminder, from the run that was waiting before the upgrade.
        await eventually(lambda: stack.sent(account), bool, timeout=40)
        [message] = await stays(lambda: stack.sent(account), lambda m: len(m) == 1, seconds=2)
        assert message["to"] == f"+{number}" and message["body"] == "Hi Sheena, still there?"
        [record] = await eventually(lambda: stack.reminders(account), bool)
        assert record["outcome"] == "sent"
        customer_messages = [
            event
            async for event in dev_env.client.get_workflow_handle(
                workflow_id, run_id=run_id
            ).fetch_history_events()
            if event.HasField("workflow_execution_signaled_event_attributes")
            and event.workflow_execution_signaled_event_attributes.signal_name
            == names.CUSTOMER_MESSAGE_SIGNAL
        ]
        assert len(customer_messages) == 2
