"""The names callers use to reach the workflow are the names the workflow declares."""

from __future__ import annotations

from temporalio import workflow

from core import temporal_names as names
from workflows.conversation import ConversationWorkflow


def test_the_workflow_declares_the_names_of_core_temporal_names() -> None:
    definition = workflow._Definition.must_from_class(ConversationWorkflow)
    assert definition.name == names.CONVERSATION_WORKFLOW
    assert set(definition.signals) == {names.CUSTOMER_MESSAGE_SIGNAL, names.SETTINGS_CHANGED_SIGNAL}
    assert set(definition.queries) == {names.SESSION_QUERY}


def test_workflow_ids_round_trip_and_stay_apart_per_account() -> None:
    workflow_id = names.conversation_workflow_id(account_id="acme", conversation_key="k1")
    assert names.conversation_key_of(workflow_id, account_id="acme") == "k1"
    assert names.conversation_key_of(workflow_id, account_id="acm") is None
    assert names.conversation_key_of("other:acme:k1", account_id="acme") is None


def test_web_ui_links() -> None:
    assert names.web_ui_url(
        "http://ui:8233/", namespace="de fault", workflow_id="conversation:a:k", run_id="r/1"
    ) == ("http://ui:8233/namespaces/de%20fault/workflows/conversation%3Aa%3Ak/r%2F1/history")
    assert names.web_ui_workflows_url("http://ui:8233", namespace="default", query='A = "b"') == (
        "http://ui:8233/namespaces/default/workflows?query=A%20%3D%20%22b%22"
    )
