"""Status webhooks: delivery state only moves forward; asynchronous failures are recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.vocabulary import DeliveryStatus, ReminderOutcome
from store.records import ReminderRecord
from store.repository import Store
from tests.store.conftest import START
from tests.store_reads import reminder_by_id

T = START - timedelta(hours=23)


async def _sent(store: Store, account_id: str, *, message_id: str = "wamid.A") -> ReminderRecord:
    claim = await store.reminders.claim(
        account_id=account_id,
        conversation_key="conv1",
        wa_id="15550001",
        last_customer_message_at=T,
        text="Hi!",
    )
    return await store.reminders.finish(
        reminder_id=claim.record.reminder_id, outcome=ReminderOutcome.SENT, message_id=message_id
    )


async def _status(
    store: Store,
    status: str,
    *,
    message_id: str | None = "wamid.A",
    reminder_id: str | None = None,
    minute: int = 0,
    error_code: int | None = None,
    error_message: str | None = None,
    account_id: str = "acme",
) -> ReminderRecord | None:
    return await store.reminders.apply_status(
        account_id=account_id,
        message_id=message_id,
        reminder_id=reminder_id,
        status=DeliveryStatus(status),
        at=START + timedelta(minutes=minute),
        error_code=error_code,
        error_message=error_message,
    )


async def test_statuses_move_forward(store: Store, account_id: str) -> None:
    await _sent(store, account_id)
    for minute, status in enumerate(("sent", "delivered", "read"), start=1):
        record = await _status(store, status, minute=minute)
        assert record is not None
        assert (record.delivery_status, record.delivery_updated_at) == (
            status,
            START + timedelta(minutes=minute),
        )


@pytest.mark.parametrize("late", ["delivered", "sent", "failed"])
async def test_a_late_status_never_overwrites_read(
    store: Store, account_id: str, late: str
) -> None:
    await _sent(store, account_id)
    await _status(store, "read", minute=2)
    record = await _status(store, late, minute=3, error_code=131026, error_message="late")
    assert record is not None
    assert (record.delivery_status, record.delivery_updated_at) == ("read", START.replace(minute=2))
    assert (record.outcome, record.error_code) == (ReminderOutcome.SENT, None)


async def test_duplicate_status_is_a_no_op(store: Store, account_id: str) -> None:
    await _sent(store, account_id)
    first = await _status(store, "delivered", minute=1)
    again = await _status(store, "delivered", minute=5)
    assert again == first


async def test_failed_131047_marks_the_window_closed(store: Store, account_id: str) -> None:
    await _sent(store, account_id)
    await _status(store, "sent", minute=1)
    record = await _status(
        store,
        "failed",
        minute=2,
        error_code=131047,
        error_message="Re-engagement message",
    )
    assert record is not None
    assert (record.delivery_status, record.outcome, record.error_code, record.reason) == (
        "failed",
        ReminderOutcome.FAILED_WINDOW_CLOSED,
        131047,
        "Re-engagement message",
    )
    # And nothing moves it afterwards.
    after = await _status(store, "delivered", minute=3)
    assert after == record


async def test_other_failures_keep_code_and_reason(store: Store, account_id: str) -> None:
    await _sent(store, account_id)
    record = await _status(
        store, "failed", minute=1, error_code=131026, error_message="Message undeliverable"
    )
    assert record is not None
    assert (record.delivery_status, record.outcome, record.error_code, record.reason) == (
        "failed",
        ReminderOutcome.SENT,
        131026,
        "Message undeliverable",
    )


async def test_failed_does_not_apply_after_delivered(store: Store, account_id: str) -> None:
    await _sent(store, account_id)
    await _status(store, "delivered", minute=1)
    record = await _status(store, "failed", minute=2, error_code=131047, error_message="x")
    assert record is not None
    assert (record.delivery_status, record.outcome, record.error_code) == (
        "delivered",
        ReminderOutcome.SENT,
        None,
    )


async def test_status_proves_an_unknown_send_went_out(store: Store, account_id: str) -> None:
    claim = await store.reminders.claim(
        account_id=account_id,
        conversation_key="conv1",
        wa_id="15550001",
        last_customer_message_at=T,
        text="Hi!",
    )
    await store.reminders.finish(
        reminder_id=claim.record.reminder_id, outcome=ReminderOutcome.UNKNOWN, reason="read timeout"
    )
    # Matched by biz_opaque_callback_data even though no message id was ever stored.
    record = await _status(
        store, "delivered", message_id="wamid.Z", reminder_id=claim.record.reminder_id
    )
    assert record is not None
    assert (record.outcome, record.message_id, record.delivery_status) == (
        ReminderOutcome.SENT,
        "wamid.Z",
        "delivered",
    )
    assert await reminder_by_id(store, claim.record.reminder_id) == record


async def test_failed_status_for_an_unknown_send(store: Store, account_id: str) -> None:
    claim = await store.reminders.claim(
        account_id=account_id,
        conversation_key="conv1",
        wa_id="15550001",
        last_customer_message_at=T,
        text="Hi!",
    )
    await store.reminders.finish(
        reminder_id=claim.record.reminder_id, outcome=ReminderOutcome.UNKNOWN
    )
    record = await _status(
        store,
        "failed",
        message_id="wamid.F",
        reminder_id=claim.record.reminder_id,
        error_code=131026,
        error_message="undeliverable",
    )
    assert record is not None
    assert (record.outcome, record.error_code, record.message_id) == (
        ReminderOutcome.FAILED,
        131026,
        "wamid.F",
    )


async def test_lookup_prefers_reminder_id_then_message_id(store: Store, account_id: str) -> None:
    sent = await _sent(store, account_id, message_id="wamid.A")
    by_message = await _status(store, "sent", message_id="wamid.A", reminder_id="not-ours")
    assert by_message is not None and by_message.reminder_id == sent.reminder_id
    assert await _status(store, "delivered", message_id="wamid.other") is None
    assert await _status(store, "delivered", message_id=None, reminder_id=None) is None
    with pytest.raises(ValueError):
        await _status(store, "seen")


async def test_a_status_only_touches_its_own_accounts_reminders(
    store: Store, account_id: str
) -> None:
    """A status received under another account's number naming our wamid and reminder id
    (both come from the body) finds nothing; under our own account it applies."""
    await store.accounts.upsert(
        account_id="other",
        company_name="Other Ltd.",
        phone_number_id="1000002",
        access_token="token-other",
    )
    sent = await _sent(store, account_id, message_id="wamid.A")
    for by in ({"message_id": "wamid.A"}, {"message_id": None, "reminder_id": sent.reminder_id}):
        assert await _status(store, "failed", error_code=131047, account_id="other", **by) is None
        assert await reminder_by_id(store, sent.reminder_id) == sent
    applied = await _status(store, "delivered", account_id=account_id)
    assert applied is not None and applied.delivery_status == "delivered"
