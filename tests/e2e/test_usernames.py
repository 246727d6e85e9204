"""End to end: customers who hide their number behind a WhatsApp username.

Meta names such a customer by business-scoped user id (BSUID) and may leave the number out; the
same customer may later be named by number and BSUID together. Whatever the order, it is one
conversation (one workflow id), one session and one reminder, sent ``to`` the number when it is
known and to ``recipient`` = the BSUID otherwise (docs/sessions.md#who-the-customer-is).
"""

from __future__ import annotations

import pytest

from core import temporal_names as names
from core.conversation_key import new_conversation_key
from core.identity import CustomerIdentity
from tests.e2e.support import (
    HOUR,
    KEY_SECRET,
    Account,
    Json,
    Stack,
    ago,
    customer_webhook,
    new_bsuid,
    new_customer,
    status_webhook,
    stays,
)
from tests.support import eventually

pytestmark = pytest.mark.devserver

ARRIVAL = 15.0
QUIET = 2.0
TEMPLATE = "Hi {contact_firstname}! Call us back at your number ({contact_phone})."


def exactly_one(messages: list[Json]) -> bool:
    return len(messages) == 1


async def _post(stack: Stack, payload: Json) -> None:
    response = await stack.post_webhook(payload)
    assert response.status_code == 200, response.text
    assert (response.json()["messages"], response.json()["invalid"]) == (1, 0)


async def _one_reminder(stack: Stack, account: Account) -> tuple[Json, Json]:
    """The one message at the stand-in and its one audit record, after a quiet spell."""
    await eventually(lambda: stack.sent(account), bool, timeout=ARRIVAL)
    [message] = await stays(lambda: stack.sent(account), exactly_one, seconds=QUIET)
    [record] = await eventually(lambda: stack.reminders(account), bool)
    assert record["outcome"] == "sent" and record["message_id"] == message["id"]
    return message, record


async def test_a_customer_known_only_by_bsuid_gets_one_reminder_by_recipient(
    stack: Stack,
) -> None:
    account = await stack.create_account(expiry_hours=1, message=TEMPLATE)
    bsuid = new_bsuid()
    await _post(
        stack,
        customer_webhook(
            account.phone_number_id, user_id=bsuid, username="@sheena", timestamp=ago(HOUR - 3)
        ),
    )

    message, record = await _one_reminder(stack, account)
    assert (message["addressed_by"], message["user_id"], message["to"]) == (
        "recipient",
        bsuid,
        None,
    )
    assert message["body"] == "Hi Sheena! Call us back at your number ()."
    assert (record["wa_id"], record["user_id"], record["username"]) == (None, bsuid, "@sheena")

    # The session answers by BSUID, and names no number.
    response = await stack.session(account, bsuid)
    assert response.status_code == 200, response.text
    session = response.json()
    assert (session["wa_id"], session["user_id"], session["username"]) == (
        None,
        bsuid,
        "@sheena",
    )
    assert session["state"] == "reminded"
    key = new_conversation_key(
        secret=KEY_SECRET,
        account_id=account.account_id,
        identity=CustomerIdentity(user_id=bsuid),
    )
    assert session["workflow_id"] == names.conversation_workflow_id(
        account_id=account.account_id, conversation_key=key
    )
    assert bsuid not in session["workflow_id"]

    # The stand-in reports the message like Meta, naming the BSUID and no number
    # (recipient_user_id); those status webhooks reach the record all the same.
    await eventually(
        lambda: stack.reminders(account),
        lambda records: [r["delivery_status"] for r in records] == ["read"],
    )
    # And one posted here, late and out of order, changes nothing.
    response = await stack.post_webhook(
        status_webhook(
            account.phone_number_id,
            wa_id=None,
            user_id=bsuid,
            message_id=message["id"],
            status="delivered",
            timestamp=ago(0),
            callback_data=record["reminder_id"],
        )
    )
    assert response.status_code == 200 and response.json()["statuses"] == 1
    [record] = await stack.reminders(account)
    assert (record["delivery_status"], record["outcome"]) == ("read", "sent")


@pytest.mark.parametrize("bsuid_first", [True, False], ids=["bsuid-then-both", "both-then-bsuid"])
async def test_one_customer_named_two_ways_gets_one_conversation_and_one_reminder(
    stack: Stack, bsuid_first: bool
) -> None:
    account = await stack.create_account(expiry_hours=1, message=TEMPLATE)
    number, bsuid = new_customer(), new_bsuid()
    alone = customer_webhook(
        account.phone_number_id, user_id=bsuid, username="@sheena", timestamp=ago(HOUR - 4)
    )
    both = customer_webhook(
        account.phone_number_id, wa_id=number, user_id=bsuid, timestamp=ago(HOUR - 3)
    )
    for payload in (alone, both) if bsuid_first else (both, alone):
        await _post(stack, payload)

    message, record = await _one_reminder(stack, account)
    # The number is known by the time the reminder goes: it goes to the number.
    assert (message["addressed_by"], message["to"]) == ("to", f"+{number}")
    assert message["body"] == f"Hi Sheena! Call us back at your number (+{number})."
    assert (record["wa_id"], record["user_id"]) == (number, bsuid)

    # One session, found by either name, with every name it has.
    by_number, by_bsuid = (
        (await stack.session(account, number)),
        (await stack.session(account, bsuid)),
    )
    assert by_number.status_code == by_bsuid.status_code == 200
    assert by_number.json()["workflow_id"] == by_bsuid.json()["workflow_id"]
    assert by_number.json()["run_id"] == by_bsuid.json()["run_id"]
    assert (by_bsuid.json()["wa_id"], by_bsuid.json()["username"]) == (number, "@sheena")
    first_key_from = (
        CustomerIdentity(user_id=bsuid) if bsuid_first else CustomerIdentity(wa_id=number)
    )
    key = new_conversation_key(
        secret=KEY_SECRET, account_id=account.account_id, identity=first_key_from
    )
    assert by_bsuid.json()["conversation_key"] == key
    # The run saw both messages: the later one never started a second workflow.
    handle = stack.temporal.get_workflow_handle(by_bsuid.json()["workflow_id"])
    customer_messages = [
        event
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_execution_signaled_event_attributes")
        and event.workflow_execution_signaled_event_attributes.signal_name
        == names.CUSTOMER_MESSAGE_SIGNAL
    ]
    assert len(customer_messages) == 2
