"""The session activities in isolation: ActivityEnvironment, a real SQLite store, the sandbox app.

The workflow tests cover the happy paths end to end; these pin down the never-duplicate protocol
for retried attempts, which a workflow test cannot stage precisely.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.testing import ActivityEnvironment

from activities.conversation import ConversationActivities
from activities.throttle import SendPacer
from core.contract import LoadSettingsRequest, ReminderRequest, ReminderResult
from core.conversation_key import conversation_key
from core.vocabulary import ReminderOutcome
from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.repository import Store
from tests.support import free_port
from whatsapp.client import CloudApiClient
from whatsapp.sandbox import create_sandbox_app, sandbox_state

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WA_ID = "15550001111"
KEY = conversation_key(secret="s", account_id="acme", wa_id=WA_ID)


@dataclass
class World:
    activities: ConversationActivities
    store: Store
    sandbox: FastAPI
    clock: list[datetime]

    def request(self, last: datetime = T, key: str = KEY) -> ReminderRequest:
        return ReminderRequest(
            account_id="acme", conversation_key=key, last_customer_message_at=last
        )

    async def send(self, request: ReminderRequest | None = None) -> ReminderResult:
        return await ActivityEnvironment().run(
            self.activities.send_reminder, request or self.request()
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await migrate(url)
    engine = create_engine(url)
    store = Store(create_sessionmaker(engine))
    await store.accounts.upsert(
        account_id="acme", company_name="Acme Inc.", phone_number_id="1001", access_token="tok"
    )
    await store.settings.save(
        account_id="acme",
        enabled=True,
        expiry_hours=2,
        message="Hi {contact_firstname} at {contact_phone} from {company_name}",
        changed_by="test",
    )
    await store.contacts.ensure_sender(
        account_id="acme", wa_id=WA_ID, conversation_key=KEY, profile_name="Ana Lima"
    )
    sandbox = create_sandbox_app()
    clock = [T + timedelta(hours=2)]

    async def now() -> datetime:
        return clock[0]

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox), base_url="http://graph"
    ) as http:
        activities = ConversationActivities(
            store=store,
            whatsapp=CloudApiClient(http, base_url="http://graph", api_version="v21.0"),
            clock=now,
        )
        yield World(activities=activities, store=store, sandbox=sandbox, clock=clock)
    await engine.dispose()


async def test_sends_rendered_text_with_the_reminder_id_as_callback(world: World) -> None:
    result = await world.send()
    assert result.outcome is ReminderOutcome.SENT
    [message] = sandbox_state(world.sandbox).messages
    assert message.body == "Hi Ana at +15550001111 from Acme Inc."
    assert message.callback_data == result.reminder_id
    assert message.id == result.message_id


async def test_retried_attempt_after_a_send_reuses_the_decision(world: World) -> None:
    first = await world.send()
    again = await world.send()
    assert again.outcome is ReminderOutcome.SENT
    assert again.reminder_id == first.reminder_id
    assert len(sandbox_state(world.sandbox).messages) == 1


async def test_attempt_that_died_mid_send_is_recorded_unknown_not_resent(world: World) -> None:
    # What a worker crash between claiming and recording leaves behind: a pending claim.
    await world.store.reminders.claim(
        account_id="acme", conversation_key=KEY, wa_id=WA_ID, last_customer_message_at=T, text="x"
    )
    result = await world.send()
    assert result.outcome is ReminderOutcome.UNKNOWN
    assert sandbox_state(world.sandbox).messages == []


async def test_retryable_failure_releases_the_claim_and_the_retry_sends_once(world: World) -> None:
    state = sandbox_state(world.sandbox)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.sandbox), base_url="http://graph"
    ) as control:
        await control.post(
            "/_sandbox/failures",
            json={"kind": "http", "status": 429, "code": 130429, "times": 1, "retry_after": 7},
        )
    with pytest.raises(ApplicationError) as raised:
        await world.send()
    assert raised.value.type == "WhatsAppRetryable"
    assert not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=7)
    page = await world.store.reminders.page(account_id="acme")
    assert [r.outcome for r in page.items] == ["retrying"]

    result = await world.send()
    assert result.outcome is ReminderOutcome.SENT
    assert len(state.messages) == 1
    [record] = (await world.store.reminders.page(account_id="acme")).items
    assert record.attempts == 2


async def test_not_due_under_current_settings_returns_the_new_due_time(world: World) -> None:
    await world.store.settings.save(
        account_id="acme",
        enabled=True,
        expiry_hours=5,
        message="Hello there {contact_firstname}",
        changed_by="test",
    )
    result = await world.send()
    assert result.outcome is ReminderOutcome.NOT_DUE
    assert result.expiry_hours == 5
    assert (await world.store.reminders.page(account_id="acme")).items == []


async def test_window_closed_at_fire_time_is_recorded_and_nothing_sent(world: World) -> None:
    world.clock[0] = T + timedelta(hours=24)
    result = await world.send()
    assert result.outcome is ReminderOutcome.SKIPPED_WINDOW_CLOSED
    assert sandbox_state(world.sandbox).messages == []
    # Final for this T: a later attempt reuses it.
    assert (await world.send()).outcome is ReminderOutcome.SKIPPED_WINDOW_CLOSED


async def test_each_contact_gets_only_its_own_values(world: World) -> None:
    other = "447700900123"
    other_key = conversation_key(secret="s", account_id="acme", wa_id=other)
    await world.store.contacts.upsert(
        account_id="acme",
        wa_id=other,
        conversation_key=other_key,
        first_name="Bo",
        last_name=None,
        email=None,
    )
    await world.send()
    await world.send(world.request(key=other_key))
    first, second = sandbox_state(world.sandbox).messages
    assert first.body == "Hi Ana at +15550001111 from Acme Inc."
    assert second.body == "Hi Bo at +447700900123 from Acme Inc."


async def test_unknown_account_pauses_instead_of_failing(world: World) -> None:
    settings = await ActivityEnvironment().run(
        world.activities.load_settings, LoadSettingsRequest(account_id="nobody")
    )
    assert settings.enabled is False


async def test_pacer_holds_a_burst_to_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = SendPacer(rate_per_second=80, burst=80, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(160):
        await pacer.wait_turn("1001")
    # 80 go at once, the next 80 are spread over one second; another number is not held up.
    assert sum(slept) == pytest.approx(1.0, rel=0.02)
    before = len(slept)
    await pacer.wait_turn("2002")
    assert len(slept) == before


async def test_decisions_are_counted_by_outcome(world: World) -> None:
    port = free_port()
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}"))
    )
    env = ActivityEnvironment()
    env.metric_meter = runtime.metric_meter
    await env.run(world.activities.send_reminder, world.request())
    async with httpx.AsyncClient() as http:
        scraped = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    [sample] = [line for line in scraped.splitlines() if line.startswith("reminder_decisions{")]
    assert 'outcome="sent"' in sample
    assert sample.endswith(" 1")
