"""Temporal names in one place: the workflow, its signals, ids, search attributes, Web UI links.

The workflow's decorators, the API, the worker, the local stack, the benchmarks and the tests
all take these from here, so nobody spells a name by hand and a rename is a one-line change.
The names are also what running histories hold: changing one strands the sessions in flight.
Pure: safe to import from workflow code.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

# The conversation workflow and its messages (``workflows/conversation.py`` declares them with
# these names; signal-with-start and batch signals need them as strings).
CONVERSATION_WORKFLOW: Final = "ConversationWorkflow"
CUSTOMER_MESSAGE_SIGNAL: Final = "customer_message"
SETTINGS_CHANGED_SIGNAL: Final = "settings_changed"
SESSION_QUERY: Final = "session"

WORKFLOW_ID_PREFIX: Final = "conversation"

# The settings-propagation workflow, one per account (``workflows/settings_propagation.py``).
SETTINGS_PROPAGATION_WORKFLOW: Final = "SettingsPropagationWorkflow"
SETTINGS_SAVED_SIGNAL: Final = "settings_saved"
DELIVERED_QUERY: Final = "delivered"
SETTINGS_ID_PREFIX: Final = "settings"

# The hand-over of a large webhook POST's remaining signals (``workflows/hand_over.py``).
HAND_OVER_WORKFLOW: Final = "WebhookHandOverWorkflow"
HAND_OVER_ID_PREFIX: Final = "webhook-handover"

# Custom search attributes (docs/operating.md#temporal-web-ui).
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

# Spelling of each search-attribute type in ``temporal server start-dev --search-attribute``,
# ``tcld namespace search-attributes add --search-attribute`` and the Cloud UI.
SEARCH_ATTRIBUTE_TYPE_NAMES: Final[dict[SearchAttributeIndexedValueType, str]] = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


def search_attribute_specs() -> list[str]:
    """``Name=Type`` of every custom search attribute, as the CLIs spell them."""
    return [
        f"{key.name}={SEARCH_ATTRIBUTE_TYPE_NAMES[key.indexed_value_type]}"
        for key in SEARCH_ATTRIBUTES
    ]


def conversation_workflow_id(*, account_id: str, conversation_key: str) -> str:
    """The id every run of one conversation shares (no phone number in it)."""
    return f"{WORKFLOW_ID_PREFIX}:{account_id}:{conversation_key}"


def settings_workflow_id(account_id: str) -> str:
    """The id every settings-propagation run of one account shares."""
    return f"{SETTINGS_ID_PREFIX}:{account_id}"


def conversation_key_of(workflow_id: str, *, account_id: str) -> str | None:
    """The conversation key in one of the account's workflow ids; None for any other id."""
    prefix = conversation_workflow_id(account_id=account_id, conversation_key="")
    return workflow_id[len(prefix) :] if workflow_id.startswith(prefix) else None


def web_ui_workflows_url(ui_base_url: str, *, namespace: str, query: str | None = None) -> str:
    """The Web UI's list of the namespace's workflows, optionally filtered by a visibility query."""
    url = f"{ui_base_url.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows"
    return url if query is None else f"{url}?query={quote(query, safe='')}"


def web_ui_url(ui_base_url: str, *, namespace: str, workflow_id: str, run_id: str) -> str:
    """Where the Temporal Web UI shows this run's history."""
    workflows = web_ui_workflows_url(ui_base_url, namespace=namespace)
    return f"{workflows}/{quote(workflow_id, safe='')}/{quote(run_id, safe='')}/history"
