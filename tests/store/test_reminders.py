"""The never-duplicate protocol: claim, finish, release, and what a second claimer sees."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone

import pytest

from core.vocabulary import DeliveryStatus, ReminderOutcome
from store.errors import ReminderNotFound
from store.repository import Store
from tests.store.conftest import START, FakeClock
from tests.store_reads import reminder_by_id

T = START - timedelta(hours=23)


async def _claim(store: Store, account_id: str, *, text: str = "Hi John!", key: str = "conv1"):
    return await store.reminders.claim(
        account_id=account_id,
        conversation_key=key,
        wa_id="15550001",
        last_customer_message_at=T,
        text=text,
    )


async def test_first_claim_acquires_a_pending_record(store: Store, account_id: str) -> None:
    claim = await _claim(store, account_id)
    assert claim.acquired
    record = claim.record
    assert record.outcome == ReminderOutcome.PENDING
    assert record.attempts == 1
    assert record.idempotency_key == f"conv1:{T.isoformat()}"
    assert (record.text, record.last_customer_message_at, record.decided_at) == (
        "Hi John!",
        T,
        START,
    )
    assert await reminder_by_id(store, record.reminder_id) == record


async def test_claim_after_final_outcome_returns_the_final_record(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    first = await _claim(store, account_id)
    clock.advance(seconds=2)
    finished = await store.reminders.finish(
        reminder_id=first.record.reminder_id, outcome=ReminderOutcome.SENT, message_id="wamid.1"
    )
    assert (finished.outcome, finished.message_id, finished.decided_at) == (
        ReminderOutcome.SENT,
        "wamid.1",
        START + timedelta(seconds=2),
    )
    again = await _claim(store, account_id, text="different text")
    assert not again.acquired
    assert again.record == finished


async def test_claim_while_pending_is_not_acquired(store: Store, account_id: str) -> None:
    first = await _claim(store, account_id)
    # The previous attempt died mid-send: the caller must treat this as ambiguous.
    second = await _claim(store, account_id)
    assert not second.acquired
    assert second.record == first.record


async def test_released_claim_can_be_acquired_again(
    store: Store, account_id: str, clock: FakeClock
) -> None:
    first = await _claim(store, account_id)
    clock.advance(seconds=30)
    await store.reminders.release(
        reminder_id=first.record.reminder_id, reason="HTTP 503", error_code=131000
    )
    released = await reminder_by_id(store, first.record.reminder_id)
    assert released is not None
    assert (released.outcome, released.reason, released.error_code) == (
        ReminderOutcome.RETRYING,
        "HTTP 503",
        131000,
    )

    clock.advance(seconds=30)
    retry = await _claim(store, account_id, text="Hi Johnny!")
    assert retry.acquired
    assert retry.record.reminder_id == first.record.reminder_id
    assert (retry.record.outcome, retry.record.attempts, retry.record.text) == (
        ReminderOutcome.PENDING,
        2,
        "Hi Johnny!",
    )
    assert retry.record.decided_at == START + timedelta(minutes=1)


async def test_release_never_reopens_a_final_record(store: Store, account_id: str) -> None:
    first = await _claim(store, account_id)
    await store.reminders.finish(
        reminder_id=first.record.reminder_id, outcome=ReminderOutcome.UNKNOWN
    )
    await store.reminders.release(reminder_id=first.record.reminder_id, reason="late")
    again = await _claim(store, account_id)
    assert not again.acquired
    assert again.record.outcome == ReminderOutcome.UNKNOWN


@pytest.mark.parametrize("contenders", [2, 6])
async def test_concurrent_claims_exactly_one_acquires(
    store: Store, account_id: str, contenders: int
) -> None:
    claims = await asyncio.gather(*(_claim(store, account_id) for _ in range(contenders)))
    assert sum(claim.acquired for claim in claims) == 1
    assert len({claim.record.reminder_id for claim in claims}) == 1


async def test_concurrent_reclaims_of_a_released_record_exactly_one_acquires(
    store: Store, account_id: str
) -> None:
    first = await _claim(store, account_id)
    await store.reminders.release(reminder_id=first.record.reminder_id, reason="503")
    claims = await asyncio.gather(*(_claim(store, account_id) for _ in range(4)))
    assert sum(claim.acquired for claim in claims) == 1
    final = await reminder_by_id(store, first.record.reminder_id)
    assert final is not None and final.attempts == 2


async def test_claims_are_per_silence(store: Store, account_id: str) -> None:
    first = await _claim(store, account_id)
    later = await store.reminders.claim(
        account_id=account_id,
        conversation_key="conv1",
        wa_id="15550001",
        last_customer_message_at=T + timedelta(minutes=1),
        text="Hi",
    )
    other_conversation = await _claim(store, account_id, key="conv2")
    assert later.acquired and other_conversation.acquired
    assert len({first.record.reminder_id, later.record.reminder_id}) == 2


async def test_same_instant_in_another_zone_is_the_same_silence(
    store: Store, account_id: str
) -> None:
    await _claim(store, account_id)
    again = await store.reminders.claim(
        account_id=account_id,
        conversation_key="conv1",
        wa_id="15550001",
        last_customer_message_at=T.astimezone(timezone(timedelta(hours=5, minutes=30))),
        text="Hi",
    )
    assert not again.acquired


async def test_finish_rejects_in_flight_and_unknown_outcomes(store: Store, account_id: str) -> None:
    claim = await _claim(store, account_id)
    for outcome in (ReminderOutcome.PENDING, ReminderOutcome.RETRYING, "not_due", "bogus"):
        with pytest.raises(ValueError):
            await store.reminders.finish(
                reminder_id=claim.record.reminder_id,
                outcome=outcome,  # type: ignore[arg-type]
            )
    with pytest.raises(ReminderNotFound):
        await store.reminders.finish(reminder_id="missing", outcome=ReminderOutcome.SENT)


async def test_finish_records_failure_details(store: Store, account_id: str) -> None:
    claim = await _claim(store, account_id)
    failed = await store.reminders.finish(
        reminder_id=claim.record.reminder_id,
        outcome=ReminderOutcome.FAILED,
        reason="(#131026) Message undeliverable",
        error_code=131026,
    )
    assert (failed.outcome, failed.error_code, failed.reason, failed.message_id) == (
        ReminderOutcome.FAILED,
        131026,
        "(#131026) Message undeliverable",
        None,
    )


async def test_finish_keeps_an_outcome_a_status_webhook_already_proved(
    store: Store, account_id: str
) -> None:
    claim = await _claim(store, account_id)
    # The status webhook overtook the sender's own bookkeeping.
    await store.reminders.apply_status(
        account_id=account_id,
        message_id="wamid.9",
        reminder_id=claim.record.reminder_id,
        status=DeliveryStatus.DELIVERED,
        at=START,
        error_code=None,
        error_message=None,
    )
    after = await store.reminders.finish(
        reminder_id=claim.record.reminder_id, outcome=ReminderOutcome.UNKNOWN, reason="timeout"
    )
    assert (after.outcome, after.message_id, after.delivery_status) == (
        ReminderOutcome.SENT,
        "wamid.9",
        "delivered",
    )


async def _decide(
    store: Store, account_id: str, outcome: ReminderOutcome = ReminderOutcome.SKIPPED_DISABLED
):
    return await store.reminders.record_decision(
        account_id=account_id,
        conversation_key="conv1",
        wa_id="15550001",
        last_customer_message_at=T,
        outcome=outcome,
        reason="reminders are disabled",
    )


async def test_a_decision_without_a_send_is_the_silences_one_record(
    store: Store, account_id: str
) -> None:
    records = [await _decide(store, account_id) for _ in range(2)]
    assert records[0].reminder_id == records[1].reminder_id  # one record per silence
    assert records[0].idempotency_key == f"conv1:{T.isoformat()}"
    assert (records[0].outcome, records[0].attempts, records[0].text) == (
        ReminderOutcome.SKIPPED_DISABLED,
        0,
        None,
    )
    # A skip never blocks the later claim for the same silence: reminders may be enabled again.
    claim = await _claim(store, account_id)
    assert claim.acquired
    assert claim.record.reminder_id == records[0].reminder_id
    assert (claim.record.outcome, claim.record.attempts) == (ReminderOutcome.PENDING, 1)


async def test_a_decision_replaces_a_released_claim_but_not_a_maybe_sent_one(
    store: Store, account_id: str
) -> None:
    claim = await _claim(store, account_id)
    await store.reminders.release(reminder_id=claim.record.reminder_id, reason="429")
    disabled = await _decide(store, account_id)
    assert (disabled.reminder_id, disabled.outcome) == (
        claim.record.reminder_id,
        ReminderOutcome.SKIPPED_DISABLED,
    )

    again = await _claim(store, account_id, key="conv2")
    await store.reminders.mark_ambiguous(reminder_id=again.record.reminder_id, reason="503")
    kept = await store.reminders.record_decision(
        account_id=account_id,
        conversation_key="conv2",
        wa_id="15550001",
        last_customer_message_at=T,
        outcome=ReminderOutcome.SKIPPED_DISABLED,
        reason="reminders are disabled",
    )
    # It may have reached Meta: only proof or the silence's end may decide it.
    assert kept.outcome is ReminderOutcome.AMBIGUOUS


async def test_record_decision_refuses_what_is_not_a_decision(
    store: Store, account_id: str
) -> None:
    with pytest.raises(ValueError):
        await store.reminders.record_decision(
            account_id=account_id,
            conversation_key="conv1",
            wa_id="15550001",
            last_customer_message_at=T,
            outcome="nonsense",  # type: ignore[arg-type]
            reason=None,
        )
