"""The visibility queries the API, the local stack's banner and the README share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import visibility
from core.vocabulary import SessionState
from devstack import queries


def test_examples_and_builders() -> None:
    now = datetime(2025, 6, 1, 12, 0, 30, tzinfo=UTC)
    assert queries.DEMO_ACCOUNT_SESSIONS == (
        'AccountId = "demo" AND WorkflowType = "ConversationWorkflow"'
        ' AND ExecutionStatus = "Running"'
    )
    assert queries.reminders_due_in_next_hour(now=now) == (
        'SessionState = "waiting" AND ReminderDueAt < "2025-06-01T13:00:30Z"'
        ' AND ExecutionStatus = "Running"'
    )
    assert visibility.sessions_in_state(SessionState.PAUSED, account_id="acme") == (
        'AccountId = "acme" AND WorkflowType = "ConversationWorkflow"'
        ' AND SessionState = "paused" AND ExecutionStatus = "Running"'
    )
    assert visibility.windows_closing_within(timedelta(minutes=30), now=now) == (
        'WindowClosesAt < "2025-06-01T12:30:30Z" AND ExecutionStatus = "Running"'
    )
    assert visibility.quote('a"b\\c') == '"a\\"b\\\\c"'
    with pytest.raises(ValueError):
        visibility.timestamp(datetime(2025, 6, 1))  # naive on purpose


def test_account_queries_are_escaped() -> None:
    assert visibility.account_sessions('a"b\\c') == (
        'AccountId = "a\\"b\\\\c" AND WorkflowType = "ConversationWorkflow"'
        ' AND ExecutionStatus = "Running"'
    )
    assert visibility.account_runs('a"b') == (
        'AccountId = "a\\"b" AND WorkflowType = "ConversationWorkflow"'
    )


def test_expired_includes_runs_that_ended_any_other_way() -> None:
    assert visibility.sessions_in_state(SessionState.EXPIRED, account_id="acme") == (
        'AccountId = "acme" AND WorkflowType = "ConversationWorkflow"'
        ' AND (SessionState = "expired" OR ExecutionStatus != "Running")'
    )
