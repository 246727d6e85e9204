"""The conversation activities in isolation: ActivityEnvironment, a real SQLite store, the
sandbox app, and one clock for both that the test moves.

The workflow tests cover the paths end to end; these pin down each step of the attempt protocol
(docs/sending.md), which a workflow test cannot stage precisely.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from fastapi import FastAPI
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.testing import ActivityEnvironment

from activities.conversation import ConversationActivities
from core.contract import (
    CloseSilenceRequest,
    LoadSettingsRequest,
    RecordReplyRequest,
    ReminderRequest,
    ReminderResult,
)
from core.conversation_key import conversation_key
from core.identity import CustomerIdentity
from core.vocabulary import DeliveryStatus, ReminderOutcome
from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.records import ReminderRecord
from store.repository import Store
from tests.support import free_port, store_sender
from whatsapp.client import CloudApiClient
from whatsapp.sandbox import create_sandbox_app, sandbox_state
from worker import REPLY_SECONDS_BUCKETS

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WA_ID = "15550001111"
KEY = conversation_key(secret="s", account_id="acme", wa_id=WA_ID)
BSUID = "US.13491208655302741918"


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

    async def close(
        self, why: Literal["customer_replied", "window_closed", "gave_up"], last: datetime = T
    ) -> ReminderResult:
        return await ActivityEnvironment().run(
            self.activities.close_silence,
            CloseSilenceRequest(
                account_id="acme",
                conversation_key=KEY,
                last_customer_message_at=last,
                why=why,
            ),
        )

    def advance(self, **delta: float) -> None:
        self.clock[0] += timedelta(**delta)

    async def fail_next(self, **failure: object) -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.sandbox), base_url="http://graph"
        ) as control:
            response = await control.post("/_sandbox/failures", json=failure)
            assert response.status_code == 201

    async def records(self) -> list[ReminderRecord]:
        return list((await self.store.reminders.page(account_id="acme")).items)

    async def status(self, record_id: str, message_id: str = "wamid.S") -> None:
        await self.store.reminders.apply_status(
            account_id="acme",
            message_id=message_id,
            reminder_id=record_id,
            status=DeliveryStatus.SENT,
            at=self.clock[0],
            error_code=None,
            error_message=None,
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await migrate(url)
    engine = create_engine(url)
    clock = [T + timedelta(hours=2)]
    store = Store(create_sessionmaker(engine), clock=lambda: clock[0])
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
    await store_sender(
        store, account_id="acme", wa_id=WA_ID, conversation_key=KEY, profile_name="Ana Lima"
    )
    sandbox = create_sandbox_app()

    async def now() -> datetime:
        return clock[0]

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox), base_url="http://graph"
    ) as http:
        activities = ConversationActivities(
            store=store,
            whatsapp=CloudApiClient(http, base_url="http://graph", api_version="v26.0"),
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


async def test_attempt_that_died_mid_send_waits_for_proof_then_sends_once(world: World) -> None:
    # What a worker crash between claiming and answering leaves behind: a pending claim.
    claim = await world.store.reminders.claim(
        account_id="acme", conversation_key=KEY, wa_id=WA_ID, last_customer_message_at=T, text="x"
    )
    waiting = await world.send()
    assert (waiting.outcome, waiting.retry_in_seconds) == (ReminderOutcome.AMBIGUOUS, 60.0)
    assert sandbox_state(world.sandbox).messages == []
    world.advance(seconds=30)
    assert (await world.send()).retry_in_seconds == 30.0  # still waiting, nothing sent
    world.advance(seconds=31)
    sent = await world.send()
    assert sent.outcome is ReminderOutcome.SENT
    [message] = sandbox_state(world.sandbox).messages
    # The same reminder id: a status for either attempt proves the one reminder.
    assert message.callback_data == claim.record.reminder_id == sent.reminder_id
    [record] = await world.records()
    assert record.attempts == 2


async def test_a_status_before_the_wait_is_over_means_no_second_send(world: World) -> None:
    claim = await world.store.reminders.claim(
        account_id="acme", conversation_key=KEY, wa_id=WA_ID, last_customer_message_at=T, text="x"
    )
    assert (await world.send()).outcome is ReminderOutcome.AMBIGUOUS
    await world.status(claim.record.reminder_id)
    world.advance(seconds=61)
    result = await world.send()
    assert (result.outcome, result.message_id) == (ReminderOutcome.SENT, "wamid.S")
    assert sandbox_state(world.sandbox).messages == []


async def test_5xx_is_ambiguous_then_resent_after_the_wait_without_proof(world: World) -> None:
    await world.fail_next(kind="http", status=503)
    first = await world.send()
    assert (first.outcome, first.retry_in_seconds) == (ReminderOutcome.AMBIGUOUS, 60.0)
    assert [r.outcome for r in await world.records()] == [ReminderOutcome.AMBIGUOUS]
    world.advance(seconds=60)
    second = await world.send()
    assert second.outcome is ReminderOutcome.SENT
    [message] = sandbox_state(world.sandbox).messages  # the 503 had not recorded anything
    assert message.callback_data == first.reminder_id


async def test_a_resend_paced_out_stays_maybe_sent_and_waits_for_proof_again(
    world: World,
) -> None:
    class FullPacer:
        async def wait_turn(self, key: str) -> float | None:
            return 5.0

    await world.fail_next(kind="accept_then_fail", status=500)
    first = await world.send()
    assert first.outcome is ReminderOutcome.AMBIGUOUS
    world.advance(seconds=60)
    pacer = world.activities._pacer
    world.activities._pacer = FullPacer()
    paced = await world.send()
    # Not "certainly not sent": the first attempt may have got through. Its proof may still
    # come, and the resend waits for it once more.
    assert (paced.outcome, paced.retry_in_seconds) == (ReminderOutcome.AMBIGUOUS, 60.0)
    [record] = await world.records()
    assert record.outcome is ReminderOutcome.AMBIGUOUS
    [accepted] = sandbox_state(world.sandbox).messages
    await world.status(accepted.callback_data or "", message_id=accepted.id)
    world.activities._pacer = pacer
    world.advance(seconds=60)
    proved = await world.send()
    assert (proved.outcome, proved.message_id) == (ReminderOutcome.SENT, accepted.id)
    assert len(sandbox_state(world.sandbox).messages) == 1


async def test_accepted_then_5xx_with_a_status_is_not_resent(world: World) -> None:
    await world.fail_next(kind="accept_then_fail", status=500)
    first = await world.send()
    assert first.outcome is ReminderOutcome.AMBIGUOUS
    [accepted] = sandbox_state(world.sandbox).messages
    await world.status(accepted.callback_data or "", message_id=accepted.id)
    world.advance(seconds=120)
    result = await world.send()
    assert (result.outcome, result.message_id) == (ReminderOutcome.SENT, accepted.id)
    assert len(sandbox_state(world.sandbox).messages) == 1


async def test_throttled_send_is_released_and_the_next_attempt_sends_once(world: World) -> None:
    await world.fail_next(kind="http", status=429, code=130429, times=1, retry_after=7)
    throttled = await world.send()
    assert (throttled.outcome, throttled.retry_in_seconds, throttled.error_code) == (
        ReminderOutcome.RETRYING,
        7.0,
        130429,
    )
    assert [r.outcome for r in await world.records()] == [ReminderOutcome.RETRYING]
    result = await world.send()
    assert result.outcome is ReminderOutcome.SENT
    assert len(sandbox_state(world.sandbox).messages) == 1
    [record] = await world.records()
    assert record.attempts == 2


async def test_throttled_without_retry_after_backs_off(world: World) -> None:
    await world.fail_next(kind="http", status=429, times=3)
    waits = [(await world.send()).retry_in_seconds for _ in range(3)]
    assert waits == [1.0, 2.0, 4.0]


async def test_less_than_a_minute_left_sends_nothing(world: World) -> None:
    world.clock[0] = T + timedelta(hours=24, seconds=-59)
    result = await world.send()
    assert result.outcome is ReminderOutcome.SKIPPED_WINDOW_CLOSED
    assert sandbox_state(world.sandbox).messages == []


async def test_the_wait_for_the_send_slot_is_measured_before_sending(world: World) -> None:
    class SlowPacer:
        async def wait_turn(self, key: str) -> float | None:
            world.advance(seconds=45)  # a long queue for this business number
            return None

    world.activities._pacer = SlowPacer()
    world.clock[0] = T + timedelta(hours=24, seconds=-90)  # 90 s left when the attempt starts
    result = await world.send()
    assert result.outcome is ReminderOutcome.SKIPPED_WINDOW_CLOSED
    assert sandbox_state(world.sandbox).messages == []


async def test_a_full_send_queue_gives_the_claim_back_and_asks_to_come_back(
    world: World,
) -> None:
    class FullPacer:
        async def wait_turn(self, key: str) -> float | None:
            assert key == "acme"  # the account's number
            return 12.5  # the number's queue reaches beyond what one attempt may wait

    pacer = world.activities._pacer
    world.activities._pacer = FullPacer()
    world.clock[0] = T + timedelta(hours=3)
    result = await world.send()
    assert result.outcome is ReminderOutcome.RETRYING
    assert result.retry_in_seconds == 12.5
    assert sandbox_state(world.sandbox).messages == []
    [record] = await world.records()
    assert record.outcome is ReminderOutcome.RETRYING  # certainly not sent
    assert record.reason is not None and "paced" in record.reason
    # The next attempt, with room in the queue, claims it again and sends.
    world.activities._pacer = pacer
    again = await world.send()
    assert again.outcome is ReminderOutcome.SENT
    assert again.reminder_id == record.reminder_id
    assert len(sandbox_state(world.sandbox).messages) == 1


async def test_the_clock_is_read_again_right_before_the_request(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    reminders = world.store.reminders
    claim_with_context = reminders.claim_with_context

    async def slow_claim(**kwargs: Any) -> Any:
        claimed = await claim_with_context(**kwargs)
        world.advance(seconds=45)  # the claim waited that long on the database
        return claimed

    monkeypatch.setattr(reminders, "claim_with_context", slow_claim)
    world.clock[0] = T + timedelta(hours=24, seconds=-90)  # 90 s left when the attempt starts
    result = await world.send()
    assert result.outcome is ReminderOutcome.SKIPPED_WINDOW_CLOSED
    assert result.reason == "less than a minute of the 24-hour window was left"
    assert sandbox_state(world.sandbox).messages == []
    # Decided after the claim: the silence's record was claimed, then settled unsent.
    (record,) = (await reminders.page(account_id="acme")).items
    assert record.attempts == 1


async def test_disabled_after_a_release_is_the_one_record(world: World) -> None:
    await world.fail_next(kind="http", status=429, code=130429)
    assert (await world.send()).outcome is ReminderOutcome.RETRYING
    await world.store.settings.save(
        account_id="acme",
        enabled=False,
        expiry_hours=2,
        message="Hello there {contact_firstname}",
        changed_by="test",
    )
    assert (await world.send()).outcome is ReminderOutcome.SKIPPED_DISABLED
    assert [r.outcome for r in await world.records()] == [ReminderOutcome.SKIPPED_DISABLED]


async def test_a_missing_contact_is_recorded_as_failed(world: World) -> None:
    result = await world.send(world.request(key="no-such-key"))
    assert (result.outcome, result.reason) == (ReminderOutcome.FAILED, "contact not found")
    [record] = await world.records()
    assert (record.conversation_key, record.outcome) == ("no-such-key", ReminderOutcome.FAILED)


async def test_closing_settles_a_throttled_send_when_the_customer_replied(world: World) -> None:
    await world.fail_next(kind="http", status=429, code=130429)
    assert (await world.send()).outcome is ReminderOutcome.RETRYING
    closed = await world.close("customer_replied")
    assert closed.outcome is ReminderOutcome.SKIPPED_CUSTOMER_REPLIED
    [record] = await world.records()
    assert record.outcome is ReminderOutcome.SKIPPED_CUSTOMER_REPLIED
    # The abandoned silence is never sent afterwards.
    assert (await world.send()).outcome is ReminderOutcome.SKIPPED_CUSTOMER_REPLIED
    assert sandbox_state(world.sandbox).messages == []


async def test_giving_up_without_a_record_still_leaves_one(world: World) -> None:
    closed = await world.close("gave_up")
    assert closed.outcome is ReminderOutcome.FAILED
    [record] = await world.records()
    assert (record.outcome, record.wa_id) == (ReminderOutcome.FAILED, WA_ID)


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
    # By the activity's clock, so a worker whose clock lags the server's waits, not loops.
    assert result.retry_in_seconds == 3 * 3600
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
        identity=CustomerIdentity(wa_id=other),
        new_key=other_key,
        first_name="Bo",
        last_name=None,
        email=None,
    )
    await world.send()
    await world.send(world.request(key=other_key))
    first, second = sandbox_state(world.sandbox).messages
    assert first.body == "Hi Ana at +15550001111 from Acme Inc."
    assert second.body == "Hi Bo at +447700900123 from Acme Inc."


async def _bsuid_customer(world: World) -> ReminderRequest:
    contact = await world.store.contacts.resolve_sender(
        account_id="acme",
        identity=CustomerIdentity(user_id=BSUID, username="@maria"),
        new_key="key-maria",
        profile_name="Maria",
    )
    return world.request(key=contact.conversation_key)


async def test_a_customer_without_number_is_sent_to_by_bsuid(world: World) -> None:
    result = await world.send(await _bsuid_customer(world))
    assert result.outcome is ReminderOutcome.SENT
    [message] = sandbox_state(world.sandbox).messages
    assert (message.addressed_by, message.user_id, message.wa_id) == ("recipient", BSUID, None)
    assert message.body == "Hi Maria at  from Acme Inc."  # {contact_phone}: no number, empty
    [record] = await world.records()
    assert (record.wa_id, record.user_id) == (None, BSUID)


async def test_131062_is_a_permanent_failure_with_its_code_and_no_retry(world: World) -> None:
    request = await _bsuid_customer(world)
    await world.fail_next(
        kind="http", status=400, code=131062, message="BSUID recipients not supported"
    )
    result = await world.send(request)
    assert (result.outcome, result.error_code, result.retry_in_seconds) == (
        ReminderOutcome.FAILED,
        131062,
        None,
    )
    [record] = await world.records()
    assert (record.outcome, record.error_code, record.attempts) == (
        ReminderOutcome.FAILED,
        131062,
        1,
    )
    # A retried activity reuses the decision: nothing is sent again.
    assert (await world.send(request)).outcome is ReminderOutcome.FAILED
    assert sandbox_state(world.sandbox).messages == []
    assert (await world.records())[0].attempts == 1


async def test_unknown_account_pauses_instead_of_failing(world: World) -> None:
    settings = await ActivityEnvironment().run(
        world.activities.load_settings, LoadSettingsRequest(account_id="nobody")
    )
    assert settings.enabled is False


@dataclass
class Metered:
    """An activity environment whose metrics a Prometheus endpoint serves (while the runtime
    lives)."""

    env: ActivityEnvironment
    runtime: Runtime
    url: str

    async def scrape(self) -> list[str]:
        async with httpx.AsyncClient() as http:
            return (await http.get(self.url)).text.splitlines()


def _metered() -> Metered:
    port = free_port()
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"127.0.0.1:{port}",
                histogram_bucket_overrides={"reminder_reply_seconds": REPLY_SECONDS_BUCKETS},
            )
        )
    )
    env = ActivityEnvironment()
    env.metric_meter = runtime.metric_meter
    return Metered(env=env, runtime=runtime, url=f"http://127.0.0.1:{port}/metrics")


async def test_decisions_are_counted_by_outcome(world: World) -> None:
    metered = _metered()
    await metered.env.run(world.activities.send_reminder, world.request())
    [sample] = [line for line in await metered.scrape() if line.startswith("reminder_decisions{")]
    assert 'outcome="sent"' in sample
    assert sample.endswith(" 1")


async def test_a_reply_is_counted_once_however_often_it_is_recorded(world: World) -> None:
    metered = _metered()
    sent = await world.send()
    assert sent.outcome is ReminderOutcome.SENT and sent.sent_at is not None
    assert sent.reminder_id is not None
    reply = RecordReplyRequest(
        account_id="acme",
        reminder_id=sent.reminder_id,
        sent_at=sent.sent_at,
        replied_at=sent.sent_at + timedelta(minutes=7),
    )
    assert await metered.env.run(world.activities.record_reply, reply) is True
    # A retried activity, or the same reply noticed again: not counted again.
    assert await metered.env.run(world.activities.record_reply, reply) is False
    scraped = await metered.scrape()

    def sample(prefix: str, label: str = "") -> str:
        [line] = [line for line in scraped if line.startswith(prefix + "{") and label in line]
        return line.rsplit(" ", 1)[1]

    assert sample("reminder_replies") == "1"
    # Seven minutes: in the 15-minute bucket, not in the 5-minute one.
    assert sample("reminder_reply_seconds_bucket", 'le="300"') == "0"
    assert sample("reminder_reply_seconds_bucket", 'le="900"') == "1"
    [record] = await world.records()
    assert record.reply_seconds == 7 * 60
