"""Temporal names in one place: workflow ids and the search attributes of SPEC §6.

The API, the worker, the local stack and the tests all take these from here, so a rename is a
one-line change and nobody spells a search attribute by hand.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

WORKFLOW_ID_PREFIX = "conversation"

ACCOUNT_ID = SearchAttributeKey.for_keyword("AccountId")
SESSION_STATE = SearchAttributeKey.for_keyword("SessionState")
REMINDER_DUE_AT = SearchAttributeKey.for_datetime("ReminderDueAt")
WINDOW_CLOSES_AT = SearchAttributeKey.for_datetime("WindowClosesAt")
LAST_CUSTOMER_MESSAGE_AT = SearchAttributeKey.for_datetime("LastCustomerMessageAt")

SEARCH_ATTRIBUTES = (
    ACCOUNT_ID,
    SESSION_STATE,
    REMINDER_DUE_AT,
    WINDOW_CLOSES_AT,
    LAST_CUSTOMER_MESSAGE_AT,
)


def conversation_workflow_id(*, account_id: str, conversation_key: str) -> str:
    """The id every run of one conversation shares (no phone number in it)."""
    return f"{WORKFLOW_ID_PREFIX}:{account_id}:{conversation_key}"
