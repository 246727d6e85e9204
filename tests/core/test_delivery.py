"""The delivery-state rules on their own (docs/sending.md#status-webhooks)."""

from __future__ import annotations

import itertools

import pytest

from core.delivery import (
    FINISHABLE_OUTCOMES,
    Delivery,
    StatusReport,
    delivery_advances,
    fold_status,
    sender_may_finish,
)
from core.vocabulary import (
    DECISIONS,
    STORED_OUTCOMES,
    WINDOW_CLOSED_ERROR_CODE,
    DeliveryStatus,
    ReminderOutcome,
)

SENT, DELIVERED, READ, FAILED = (
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
    DeliveryStatus.FAILED,
)


def _record(
    outcome: ReminderOutcome = ReminderOutcome.SENT, status: DeliveryStatus | None = None
) -> Delivery:
    return Delivery(outcome=outcome, delivery_status=status, error_code=None, reason=None)


@pytest.mark.parametrize(
    ("current", "new", "advances"),
    [
        (None, SENT, True),
        (None, READ, True),
        (SENT, DELIVERED, True),
        (DELIVERED, READ, True),
        (READ, DELIVERED, False),  # a late "delivered" never overwrites "read"
        (READ, SENT, False),
        (DELIVERED, DELIVERED, False),  # a duplicate changes nothing
        (None, FAILED, True),
        (SENT, FAILED, True),
        (DELIVERED, FAILED, False),  # Meta fails a message only before delivery
        (READ, FAILED, False),
        (FAILED, READ, False),  # nothing follows "failed"
        (FAILED, FAILED, False),
    ],
)
def test_delivery_moves_only_forward(
    current: DeliveryStatus | None, new: DeliveryStatus, advances: bool
) -> None:
    assert delivery_advances(current=current, new=new) is advances


def test_any_order_of_statuses_ends_at_the_furthest() -> None:
    for order in itertools.permutations([SENT, DELIVERED, READ]):
        record = _record()
        for status in order:
            record, _ = fold_status(record, StatusReport(status=status))
        assert record.delivery_status is READ


def test_an_advancing_status_reports_it() -> None:
    record, advanced = fold_status(_record(status=SENT), StatusReport(status=DELIVERED))
    assert (record.delivery_status, advanced) == (DELIVERED, True)
    again, advanced = fold_status(record, StatusReport(status=DELIVERED))
    assert (again, advanced) == (record, False)


UNPROVEN = [
    ReminderOutcome.PENDING,
    ReminderOutcome.RETRYING,
    ReminderOutcome.AMBIGUOUS,
    ReminderOutcome.UNKNOWN,
]


@pytest.mark.parametrize("outcome", UNPROVEN)
@pytest.mark.parametrize("status", [SENT, DELIVERED, READ])
def test_any_status_proves_an_unproven_send(
    outcome: ReminderOutcome, status: DeliveryStatus
) -> None:
    record, _ = fold_status(_record(outcome), StatusReport(status=status))
    assert record.outcome is ReminderOutcome.SENT


def test_a_stale_status_still_proves_the_send() -> None:
    # "read" already recorded, then the record was (wrongly) unknown: a late "sent" proves it.
    record, advanced = fold_status(_record(ReminderOutcome.UNKNOWN, READ), StatusReport(SENT))
    assert (record.outcome, record.delivery_status, advanced) == (ReminderOutcome.SENT, READ, False)


@pytest.mark.parametrize("outcome", UNPROVEN)
def test_failed_makes_an_unproven_send_failed_with_metas_error(outcome: ReminderOutcome) -> None:
    record, _ = fold_status(
        _record(outcome), StatusReport(status=FAILED, error_code=131026, error_message="nope")
    )
    assert record == Delivery(
        outcome=ReminderOutcome.FAILED, delivery_status=FAILED, error_code=131026, reason="nope"
    )


def test_failed_after_a_sent_answer_keeps_sent_but_records_the_error() -> None:
    record, _ = fold_status(
        _record(ReminderOutcome.SENT, SENT),
        StatusReport(status=FAILED, error_code=131026, error_message="undeliverable"),
    )
    assert (record.outcome, record.delivery_status, record.error_code) == (
        ReminderOutcome.SENT,
        FAILED,
        131026,
    )


@pytest.mark.parametrize(
    "outcome", [ReminderOutcome.SENT, ReminderOutcome.PENDING, ReminderOutcome.UNKNOWN]
)
def test_asynchronous_131047_is_window_closed(outcome: ReminderOutcome) -> None:
    record, _ = fold_status(
        _record(outcome), StatusReport(status=FAILED, error_code=WINDOW_CLOSED_ERROR_CODE)
    )
    assert record.outcome is ReminderOutcome.FAILED_WINDOW_CLOSED


def test_failed_after_delivery_changes_nothing() -> None:
    before = _record(ReminderOutcome.SENT, DELIVERED)
    after, advanced = fold_status(before, StatusReport(status=FAILED, error_code=131026))
    assert (after, advanced) == (before, False)


def test_the_sender_may_finish_only_what_no_status_has_decided() -> None:
    assert FINISHABLE_OUTCOMES == {
        ReminderOutcome.PENDING,
        ReminderOutcome.RETRYING,
        ReminderOutcome.AMBIGUOUS,
        ReminderOutcome.UNKNOWN,
    }
    for outcome in STORED_OUTCOMES:
        assert sender_may_finish(outcome) is (outcome in FINISHABLE_OUTCOMES)
    for decided in DECISIONS - {ReminderOutcome.UNKNOWN}:
        assert not sender_may_finish(decided)
