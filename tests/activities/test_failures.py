"""activities/failures.py: an activity's foreign exception reaches Temporal (and the log) as its
class name only: no message, no cause, the type kept for retry policies."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.conversation import ConversationActivities
from activities.failures import failures_withheld
from core.contract import ReminderRequest
from core.vocabulary import ReminderOutcome
from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.reminders import Reminders
from store.repository import Store
from tests.support import store_sender
from whatsapp.client import CloudApiClient
from whatsapp.sandbox import create_sandbox_app

SECRET_TEXT = "Key (wa_id)=(15550009876) already exists; Hi Quentin!"


class DriverError(Exception):
    pass


async def _failing() -> None:
    try:
        raise DriverError(SECRET_TEXT)
    except DriverError as err:
        raise RuntimeError(f"wrapped: {err}") from err


async def _activity() -> None:
    with failures_withheld("send_reminder", subject="0123456789abcdef0123"):
        await _failing()


async def test_a_foreign_exception_becomes_a_bare_application_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(_activity)
    error = failed.value
    assert error.message == "send_reminder failed: RuntimeError"
    assert error.type == "RuntimeError"
    assert not error.non_retryable
    assert error.__cause__ is None and error.__suppress_context__
    logged = "\n".join(caplog.messages)
    assert "send_reminder failed for 0123456789abcdef0123: RuntimeError" in logged
    assert "_failing" in logged  # the frames are kept
    assert "15550009876" not in logged and "Quentin" not in logged


async def test_our_own_failures_pass_unchanged() -> None:
    ours = ApplicationError("no visibility", type="NoVisibility", non_retryable=True)

    async def activity() -> None:
        with failures_withheld("signal_sessions", subject="acme"):
            raise ours

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(activity)
    assert failed.value is ours


# -- the conversation activities themselves -----------------------------------------------------

NUMBER = "15550009876"
MALFORMED = "0555000987"  # a stored number WhatsApp would refuse (leading 0)
T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def activities(tmp_path: Path) -> AsyncIterator[tuple[ConversationActivities, Store]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await migrate(url)
    engine = create_engine(url)
    store = Store(create_sessionmaker(engine), clock=lambda: T + timedelta(hours=2))
    await store.accounts.upsert(
        account_id="acme", company_name="Acme Inc.", phone_number_id="1001", access_token="tok"
    )
    await store.settings.save(
        account_id="acme",
        enabled=True,
        expiry_hours=1,
        message="Hi {contact_firstname} at {contact_phone}",
        changed_by="test",
    )

    async def now() -> datetime:
        return T + timedelta(hours=2)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_sandbox_app()), base_url="http://graph"
    ) as http:
        yield (
            ConversationActivities(
                store=store,
                whatsapp=CloudApiClient(http, base_url="http://graph", api_version="v26.0"),
                clock=now,
            ),
            store,
        )
    await engine.dispose()


def _request(key: str) -> ReminderRequest:
    return ReminderRequest(account_id="acme", conversation_key=key, last_customer_message_at=T)


async def test_a_database_error_reaches_temporal_without_its_parameters(
    activities: tuple[ConversationActivities, Store],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    conversation, _ = activities

    async def failing_claim(*_: object, **__: object) -> None:
        # As PostgreSQL's driver words a unique violation: the DETAIL quotes the row.
        raise IntegrityError(
            "INSERT INTO reminders …",
            {"wa_id": NUMBER, "text": "Hi Quentin"},
            Exception(f"Key (wa_id)=({NUMBER}) already exists"),
        )

    monkeypatch.setattr(Reminders, "claim_with_context", failing_claim)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(conversation.send_reminder, _request("k" * 20))
    assert failed.value.message == "send_reminder failed: IntegrityError"
    assert failed.value.type == "IntegrityError" and failed.value.__cause__ is None
    logged = "\n".join(caplog.messages)
    assert NUMBER not in logged and "Quentin" not in logged


async def test_a_malformed_stored_number_is_named_by_field_in_the_reason(
    activities: tuple[ConversationActivities, Store],
) -> None:
    conversation, store = activities
    key = "m" * 20
    await store_sender(store, account_id="acme", wa_id=MALFORMED, conversation_key=key)
    result = await ActivityEnvironment().run(conversation.send_reminder, _request(key))
    assert result.outcome is ReminderOutcome.FAILED
    assert result.reason == "wa_id: not a phone number in E.164 form (7-15 digits)"
    assert MALFORMED not in (result.reason or "")
