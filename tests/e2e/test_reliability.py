"""End to end (docs/operating.md#reliability): Graph API 5xx retried into exactly one message, a
worker stopped across the due time still sends exactly once (durable timer), and a database
outage during a webhook answers 5xx so that Meta's retry, after recovery, is handled in full.
"""

from __future__ import annotations

import pytest

from tests.e2e.support import (
    AMBIGUOUS_WAIT,
    EXPECTED_TEXT,
    HOUR,
    Json,
    Stack,
    ago,
    message_webhook,
    new_customer,
    signed,
    stays,
)
from tests.support import eventually

pytestmark = pytest.mark.devserver

ARRIVAL = 15.0
QUIET = 2.0


def exactly_one(messages: list[Json]) -> bool:
    return len(messages) == 1


async def test_graph_api_503s_are_retried_into_exactly_one_message(stack: Stack) -> None:
    account = await stack.create_account(expiry_hours=1)
    customer = new_customer()
    # A proxy in front of Meta answers 503 (plain text) twice, then Meta takes the message.
    await stack.fail_next_sends({"kind": "http", "status": 503, "times": 2})

    response = await stack.post_webhook(
        message_webhook(account.phone_number_id, (customer, ago(HOUR - 1)))
    )
    assert response.status_code == 200, response.text

    # Retries back off 1 s, then 2 s.
    messages = await eventually(lambda: stack.sent(account), bool, timeout=ARRIVAL + 5)
    assert [m["body"] for m in messages] == [EXPECTED_TEXT]
    assert await stack.pending_failures() == []
    records = await eventually(lambda: stack.reminders(account), bool)
    assert [(r["outcome"], r["message_id"]) for r in records] == [("sent", messages[0]["id"])]
    assert records[0]["attempts"] == 3
    await stays(lambda: stack.sent(account), exactly_one, seconds=QUIET)


async def test_a_send_meta_accepted_but_answered_500_is_proved_by_its_status(
    stack: Stack,
) -> None:
    account = await stack.create_account(expiry_hours=1)
    customer = new_customer()
    # Meta takes the message, then answers 500: the stand-in reports it all the same.
    await stack.fail_next_sends({"kind": "accept_then_fail", "status": 500})

    response = await stack.post_webhook(
        message_webhook(account.phone_number_id, (customer, ago(HOUR - 1)))
    )
    assert response.status_code == 200, response.text

    messages = await eventually(lambda: stack.sent(account), bool, timeout=ARRIVAL)
    records = await eventually(
        lambda: stack.reminders(account), lambda r: bool(r) and r[0]["delivery_status"] == "read"
    )
    assert [(r["outcome"], r["message_id"], r["attempts"]) for r in records] == [
        ("sent", messages[0]["id"], 1)
    ]
    # Past the wait for proof: proved, so never sent again.
    await stays(lambda: stack.sent(account), exactly_one, seconds=AMBIGUOUS_WAIT + QUIET)


async def test_a_worker_stopped_across_the_due_time_still_sends_exactly_once(
    stack: Stack,
) -> None:
    account = await stack.create_account(expiry_hours=1)
    customer = new_customer()
    sent_at = ago(HOUR - 4)

    response = await stack.post_webhook(
        message_webhook(account.phone_number_id, (customer, sent_at))
    )
    assert response.status_code == 200, response.text
    # The worker has armed the timer (the live query answers "waiting")…
    await eventually(
        lambda: stack.session(account, customer),
        lambda r: r.status_code == 200 and r.json()["live"] and r.json()["state"] == "waiting",
    )
    # …and goes away until after the reminder was due.
    await stack.worker.stop()
    try:
        await stays(
            lambda: stack.sent(account), lambda m: m == [], seconds=sent_at + HOUR - ago(0) + 1
        )
    finally:
        await stack.worker.start()

    messages = await eventually(lambda: stack.sent(account), bool, timeout=ARRIVAL)
    assert [m["body"] for m in messages] == [EXPECTED_TEXT]
    await stays(lambda: stack.sent(account), exactly_one, seconds=QUIET)
    records = await eventually(lambda: stack.reminders(account), bool)
    assert [r["outcome"] for r in records] == ["sent"]


async def test_a_database_outage_during_a_webhook_answers_5xx_and_the_retry_goes_through(
    stack: Stack,
) -> None:
    account = await stack.create_account(expiry_hours=1)
    customer = new_customer()
    body, _ = signed(message_webhook(account.phone_number_id, (customer, ago(HOUR - 3))))

    async with stack.database_outage():
        response = await stack.post_webhook(body)
        assert response.status_code == 503, response.text
        assert response.json() == {"detail": "database is unavailable, retry later"}

    # Nothing half-done: no session was started for the refused webhook.
    response = await stack.session(account, customer)
    assert response.status_code == 404, response.text

    # Meta retries the same POST once the database is back.
    response = await stack.post_webhook(body)
    assert response.status_code == 200, response.text
    assert response.json()["messages"] == 1

    messages = await eventually(lambda: stack.sent(account), bool, timeout=ARRIVAL)
    assert [m["body"] for m in messages] == [EXPECTED_TEXT]
    records = await eventually(lambda: stack.reminders(account), bool)
    assert [r["outcome"] for r in records] == ["sent"]
