"""End to end, over HTTP: signed webhooks in, reminders out at the stand-in Graph API.

Each test is one customer of one account: the message timestamps put the reminder's due time a
few seconds ahead (docs/sessions.md#due-time: time from the message, not from receipt), so the real
worker's durable timers fire while the test watches.
"""

from __future__ import annotations

import pytest

from tests.e2e.support import (
    EXPECTED_TEXT,
    HOUR,
    TEMPLATE,
    Json,
    Stack,
    ago,
    at,
    message_webhook,
    new_customer,
    signed,
    status_webhook,
    stays,
    when,
)
from tests.support import eventually

pytestmark = pytest.mark.devserver

# From "due" to "at the stand-in": a timer, a workflow task, an activity, an HTTP call.
ARRIVAL = 15.0
# How long "no second reminder" is watched for.
QUIET = 2.0


def exactly_one(messages: list[Json]) -> bool:
    return len(messages) == 1


async def test_reminder_is_sent_once_with_the_rendered_text_and_tracks_delivery(
    stack: Stack,
) -> None:
    account = await stack.create_account(expiry_hours=1)
    customer = new_customer()
    sent_at = ago(HOUR - 3)

    response = await stack.post_webhook(
        message_webhook(account.phone_number_id, (customer, sent_at))
    )
    assert response.status_code == 200, response.text
    assert response.json()["messages"] == 1

    messages = await eventually(lambda: stack.sent(account), bool, timeout=ARRIVAL)
    assert len(messages) == 1, messages
    message = messages[0]
    assert message["to"] == f"+{customer}"
    assert message["body"] == EXPECTED_TEXT

    records = await eventually(lambda: stack.reminders(account), bool)
    assert len(records) == 1, records
    record = records[0]
    assert record["outcome"] == "sent"
    assert record["message_id"] == message["id"]
    assert record["wa_id"] == customer
    assert record["text"] == EXPECTED_TEXT
    assert when(record["last_customer_message_at"]) == at(sent_at)
    assert record["delivery_status"] is None
    # The reminder's id rides along to Meta so that status webhooks can find it.
    assert message["callback_data"] == record["reminder_id"]

    delivered_at = ago(0)
    for status, timestamp in (
        ("delivered", delivered_at),
        ("read", delivered_at + 1),
        ("delivered", delivered_at),  # late and out of order: must not overwrite "read"
    ):
        response = await stack.post_webhook(
            status_webhook(
                account.phone_number_id,
                wa_id=customer,
                message_id=message["id"],
                status=status,
                timestamp=timestamp,
                callback_data=record["reminder_id"],
            )
        )
        assert response.status_code == 200, response.text
        assert response.json()["statuses"] == 1
    (record,) = await stack.reminders(account)
    assert record["delivery_status"] == "read"
    assert record["outcome"] == "sent"
    assert record["replied_at"] is None

    # The customer answers; Meta delivers that webhook three times. One reply, counted once
    # (docs/analytics.md#replies).
    reply = message_webhook(account.phone_number_id, (customer, ago(0)))
    for _ in range(3):
        response = await stack.post_webhook(reply)
        assert response.status_code == 200, response.text
    (record,) = await eventually(
        lambda: stack.reminders(account), lambda found: found[0]["replied_at"] is not None
    )
    replied_at, decided_at = when(record["replied_at"]), when(record["decided_at"])
    assert replied_at is not None and decided_at is not None
    [message] = reply["entry"][0]["changes"][0]["value"]["messages"]
    assert replied_at == at(int(message["timestamp"]))
    assert record["reply_seconds"] == int((replied_at - decided_at).total_seconds())
    analytics = await stack.api.get(f"/v1/accounts/{account.account_id}/analytics")
    assert analytics.status_code == 200, analytics.text
    figures = analytics.json()
    assert (figures["reminders_sent"], figures["delivered"], figures["read"]) == (1, 1, 1)
    assert (figures["replied"], figures["reply_rate"]) == (1, 1.0)
    assert figures["median_reply_seconds"] == record["reply_seconds"]

    await stays(lambda: stack.sent(account), exactly_one, seconds=QUIET)


async def test_a_25_hour_old_message_is_counted_and_starts_no_session(stack: Stack) -> None:
    account = await stack.create_account(expiry_hours=1)
    customer = new_customer()

    response = await stack.post_webhook(
        message_webhook(account.phone_number_id, (customer, ago(25 * HOUR)))
    )
    assert response.status_code == 200, response.text
    assert (response.json()["messages"], response.json()["expired_messages"]) == (1, 1)
    assert (await stack.session(account, customer)).status_code == 404  # no run at all

    # A real session, then a stale redelivery: the real session stays the one shown.
    sent_at = ago(60)
    response = await stack.post_webhook(
        message_webhook(account.phone_number_id, (customer, sent_at))
    )
    assert response.status_code == 200, response.text
    real = await eventually(
        lambda: stack.session(account, customer),
        lambda r: r.status_code == 200 and r.json()["live"],
    )
    response = await stack.post_webhook(
        message_webhook(account.phone_number_id, (customer, ago(25 * HOUR)))
    )
    assert response.json()["expired_messages"] == 1
    shown = (await stack.session(account, customer)).json()
    assert shown["run_id"] == real.json()["run_id"]
    assert when(shown["last_customer_message_at"]) == at(sent_at)
    assert await stack.reminders(account) == []


async def test_lowering_the_hours_makes_a_waiting_session_send(stack: Stack) -> None:
    account = await stack.create_account(expiry_hours=3)
    customer = new_customer()
    sent_at = ago(2 * HOUR - 3)

    response = await stack.post_webhook(
        message_webhook(account.phone_number_id, (customer, sent_at))
    )
    assert response.status_code == 200, response.text
    # Waiting on the 3-hour timer, and visible: the settings broadcast selects sessions by a
    # visibility query, which is eventually consistent.
    await eventually(
        lambda: stack.sessions(account, state="waiting"),
        lambda items: (
            len(items) == 1 and when(items[0]["reminder_due_at"]) == at(sent_at + 3 * HOUR)
        ),
    )
    assert await stack.sent(account) == []

    await stack.save_settings(account, enabled=True, expiry_hours=2, message=TEMPLATE)

    messages = await eventually(lambda: stack.sent(account), bool, timeout=ARRIVAL)
    assert [m["body"] for m in messages] == [EXPECTED_TEXT]
    records = await eventually(lambda: stack.reminders(account), bool)
    assert [r["outcome"] for r in records] == ["sent"]
    assert when(records[0]["last_customer_message_at"]) == at(sent_at)


async def test_disabling_stops_a_pending_reminder_and_enabling_sends_it(stack: Stack) -> None:
    account = await stack.create_account(expiry_hours=1)
    customer = new_customer()
    sent_at = ago(HOUR - 4)
    due = sent_at + HOUR

    response = await stack.post_webhook(
        message_webhook(account.phone_number_id, (customer, sent_at))
    )
    assert response.status_code == 200, response.text
    await stack.save_settings(account, enabled=False, expiry_hours=1)

    # Whichever reaches the session first — the broadcast, or its timer finding the settings
    # disabled at fire time — it ends up paused, and nothing is sent past the due time.
    await eventually(
        lambda: stack.session(account, customer),
        lambda r: r.status_code == 200 and r.json()["state"] == "paused",
    )
    await stays(lambda: stack.sent(account), lambda m: m == [], seconds=max(0, due - ago(0)) + 1)
    assert all(r["outcome"] != "sent" for r in await stack.reminders(account))

    # Re-enabling reaches the paused session through visibility: wait until it is listed.
    await eventually(lambda: stack.sessions(account, state="paused"), exactly_one)
    await stack.save_settings(account, enabled=True, expiry_hours=1, message=TEMPLATE)

    messages = await eventually(lambda: stack.sent(account), bool, timeout=ARRIVAL)
    assert [m["body"] for m in messages] == [EXPECTED_TEXT]
    records = await eventually(
        lambda: stack.reminders(account), lambda items: any(r["outcome"] == "sent" for r in items)
    )
    assert sum(r["outcome"] == "sent" for r in records) == 1, records
    await stays(lambda: stack.sent(account), exactly_one, seconds=QUIET)


async def test_duplicated_and_out_of_order_webhooks_change_nothing(stack: Stack) -> None:
    account = await stack.create_account(expiry_hours=1)
    customer = new_customer()
    sent_at = ago(HOUR - 3)
    newest = message_webhook(account.phone_number_id, (customer, sent_at))
    older = message_webhook(account.phone_number_id, (customer, sent_at - 60))
    body, _ = signed(newest)

    # Meta redelivers the same POST (same bytes, same signature)…
    for _ in range(3):
        response = await stack.post_webhook(body)
        assert response.status_code == 200, response.text
    # …and a message the customer wrote earlier arrives late.
    assert (await stack.post_webhook(older)).status_code == 200

    messages = await eventually(lambda: stack.sent(account), bool, timeout=ARRIVAL)
    assert len(messages) == 1, messages
    # Redeliveries after the reminder went out earn no second one either.
    assert (await stack.post_webhook(body)).status_code == 200
    assert (await stack.post_webhook(older)).status_code == 200
    await stays(lambda: stack.sent(account), exactly_one, seconds=QUIET)

    (record,) = await stack.reminders(account)
    assert record["outcome"] == "sent"
    assert when(record["last_customer_message_at"]) == at(sent_at)  # T never moved back
    sessions = await eventually(lambda: stack.sessions(account), bool)
    assert len(sessions) == 1, sessions
    assert sessions[0]["wa_id"] == customer
