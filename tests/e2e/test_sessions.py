"""End to end: the session list comes from Temporal visibility (eventually consistent, so the
test polls) and links every run to its history in the Temporal Web UI."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from core import temporal_names as names
from core.conversation_key import conversation_key
from tests.e2e.support import (
    HOUR,
    KEY_SECRET,
    UI_URL,
    Json,
    Stack,
    ago,
    at,
    message_webhook,
    new_customer,
    when,
)
from tests.support import eventually

pytestmark = pytest.mark.devserver


def by_customer(items: list[Json]) -> dict[str | None, Json]:
    return {item["wa_id"]: item for item in items}


async def test_sessions_list_shows_visibility_state_times_and_ui_links(stack: Stack) -> None:
    account = await stack.create_account(expiry_hours=5)
    waiting, expired = new_customer(), new_customer()
    # The second customer's window closes a few seconds from now (a message already older
    # than the window would open no session at all).
    waiting_at, expired_at = ago(60), ago(24 * HOUR - 6)

    # Both customers in one POST, as Meta batches them.
    response = await stack.post_webhook(
        message_webhook(account.phone_number_id, (waiting, waiting_at), (expired, expired_at))
    )
    assert response.status_code == 200, response.text
    assert response.json()["conversations"] == 2

    def settled(items: list[Json]) -> bool:
        sessions = by_customer(items)
        return (
            set(sessions) == {waiting, expired}
            and sessions[waiting]["state"] == "waiting"
            and sessions[waiting]["reminder_due_at"] is not None
            and sessions[expired]["state"] == "expired"
        )

    sessions = by_customer(
        await eventually(lambda: stack.sessions(account), settled, timeout=40, interval=0.5)
    )

    session = sessions[waiting]
    assert session["running"] is True
    assert when(session["last_customer_message_at"]) == at(waiting_at)
    assert when(session["reminder_due_at"]) == at(waiting_at) + timedelta(hours=5)
    assert when(session["window_closes_at"]) == at(waiting_at) + timedelta(hours=24)
    assert session["reminder_outcome"] is None

    gone = sessions[expired]
    assert gone["running"] is False
    assert when(gone["last_customer_message_at"]) == at(expired_at)
    assert when(gone["window_closes_at"]) == at(expired_at) + timedelta(hours=24)
    assert gone["reminder_due_at"] is None

    for wa_id, item in sessions.items():
        assert wa_id is not None
        workflow_id = names.conversation_workflow_id(
            account_id=account.account_id,
            conversation_key=conversation_key(
                secret=KEY_SECRET, account_id=account.account_id, wa_id=wa_id
            ),
        )
        description = await stack.temporal.get_workflow_handle(workflow_id).describe()
        assert (item["workflow_id"], item["run_id"]) == (workflow_id, description.run_id)
        assert item["temporal_ui_url"] == (
            f"{UI_URL}/namespaces/default/workflows/"
            f"{quote(workflow_id, safe='')}/{description.run_id}/history"
        )
        # No raw phone number in what Temporal (and so the UI link) knows of the session.
        assert wa_id not in item["temporal_ui_url"]

    assert [i["wa_id"] for i in await stack.sessions(account, state="waiting")] == [waiting]
    assert [i["wa_id"] for i in await stack.sessions(account, state="expired")] == [expired]
    assert await stack.sessions(account, state="reminded") == []
