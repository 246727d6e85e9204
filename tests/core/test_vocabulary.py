"""The domain's words agree with every place that enforces or shows them."""

from __future__ import annotations

import re

from sqlalchemy import CheckConstraint

from api.schemas import SessionSettingsIn
from core.contract import ReminderSettings
from core.vocabulary import (
    ACCOUNT_ID_RE,
    DECISIONS,
    IN_FLIGHT_OUTCOMES,
    MAX_EXPIRY_HOURS,
    MIN_EXPIRY_HOURS,
    PHONE_PATTERN,
    STORED_OUTCOMES,
    WA_ID_RE,
    DeliveryStatus,
    ReminderOutcome,
)
from store.models import ReminderRow, SessionSettingsRow


def _checks(table: type) -> dict[str, str]:
    """Check constraints by their short name (the naming convention adds ``ck_<table>_``)."""
    prefix = f"ck_{table.__tablename__}_"  # type: ignore[attr-defined]
    return {
        str(constraint.name).removeprefix(prefix): str(constraint.sqltext)
        for constraint in table.__table__.constraints  # type: ignore[attr-defined]
        if isinstance(constraint, CheckConstraint)
    }


def test_outcome_groups_partition_the_stored_outcomes() -> None:
    assert DECISIONS | IN_FLIGHT_OUTCOMES == set(STORED_OUTCOMES)
    assert not DECISIONS & IN_FLIGHT_OUTCOMES
    # "not_due" is the activity's answer, never a record.
    assert set(ReminderOutcome) - set(STORED_OUTCOMES) == {ReminderOutcome.NOT_DUE}
    assert {outcome.value for outcome in DECISIONS} == {
        "sent",
        "skipped_disabled",
        "skipped_window_closed",
        "skipped_customer_replied",
        "skipped_quiet_hours",
        "skipped_opted_out",
        "failed_window_closed",
        "failed",
        "unknown",
    }


def test_the_schema_checks_the_same_outcomes_and_statuses() -> None:
    checks = _checks(ReminderRow)
    stored = re.findall(r"'([a-z_]+)'", checks["outcome_known"])
    assert stored == [outcome.value for outcome in STORED_OUTCOMES]
    statuses = re.findall(r"'([a-z_]+)'", checks["delivery_status_known"])
    assert statuses == [status.value for status in DeliveryStatus]


def test_every_place_bounds_the_hours_alike() -> None:
    assert (
        f"BETWEEN {MIN_EXPIRY_HOURS} AND {MAX_EXPIRY_HOURS}"
        in _checks(SessionSettingsRow)["expiry_hours_range"]
    )
    for model in (SessionSettingsIn, ReminderSettings):
        bounds = {type(item).__name__: item for item in model.model_fields["expiry_hours"].metadata}
        assert bounds["Ge"].ge == MIN_EXPIRY_HOURS
        assert bounds["Le"].le == MAX_EXPIRY_HOURS


def test_id_patterns() -> None:
    for good in ("acme", "A-b_9", "x" * 64):
        assert ACCOUNT_ID_RE.fullmatch(good)
    for bad in ("", "x" * 65, "has space", "dot.ted", "ünï"):
        assert not ACCOUNT_ID_RE.fullmatch(bad)
    for good in ("1234567", "15551234567", "123456789012345"):
        assert WA_ID_RE.fullmatch(good)
        assert re.fullmatch(PHONE_PATTERN, "+" + good)
    for bad in ("123456", "1234567890123456", "0123456789", "+15551234567", "１２３４５６７"):
        assert not WA_ID_RE.fullmatch(bad)
