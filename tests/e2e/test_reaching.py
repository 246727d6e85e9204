"""End to end: reaching the customer the right way (docs/reaching.md) through the API, a real
Temporal dev server, the worker and the stand-in Graph API, on SQLite and PostgreSQL.

- A STOP sent through the webhook while a reminder waits prevents it (``skipped_opted_out``).
- A window that closes unanswered gets one template message, sent by the stand-in's outbox.
- Quiet hours move the due time the session shows, and nothing is sent inside them.

Message timestamps in the past stand in for the hours a real silence takes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.support import (
    HOUR,
    Json,
    Stack,
    ago,
    customer_webhook,
    new_customer,
    stays,
    when,
)
from tests.support import eventually

pytestmark = pytest.mark.devserver

ARRIVAL = 20.0
TEMPLATE = {
    "name": "we_miss_you",
    "language": "en_US",
    "body_parameters": ["{contact_firstname}", "{company_name}"],
}


def text_webhook(phone_number_id: str, *, wa_id: str, timestamp: int, body: str) -> Json:
    payload = customer_webhook(phone_number_id, wa_id=wa_id, timestamp=timestamp)
    [message] = payload["entry"][0]["changes"][0]["value"]["messages"]
    message["type"], message["text"] = "text", {"body": body}
    return payload


async def _post(stack: Stack, payload: Json) -> None:
    response = await stack.post_webhook(payload)
    assert response.status_code == 200, response.text
    assert response.json()["messages"] == 1


async def test_a_stop_by_webhook_while_the_reminder_waits_prevents_it(stack: Stack) -> None:
    account = await stack.create_account(expiry_hours=1)
    customer = new_customer()
    await _post(
        stack,
        text_webhook(account.phone_number_id, wa_id=customer, timestamp=ago(HOUR - 6), body="hi"),
    )
    # " Stop " four seconds later, before the reminder's due time: it counts as a message (T
    # moves, the reminder is due four seconds later) and opts the customer out.
    await _post(
        stack,
        text_webhook(
            account.phone_number_id, wa_id=customer, timestamp=ago(HOUR - 10), body=" Stop "
        ),
    )
    contact = await stack.api.get(f"/v1/accounts/{account.account_id}/contacts/{customer}")
    assert contact.status_code == 200, contact.text
    assert contact.json()["opted_out"] is True

    records = await eventually(
        lambda: stack.reminders(account), lambda found: len(found) == 1, timeout=ARRIVAL
    )
    assert records[0]["outcome"] == "skipped_opted_out"
    assert records[0]["kind"] == "reminder"
    assert await stack.sent(account) == []


async def test_a_window_that_closes_unanswered_gets_one_template(stack: Stack) -> None:
    account = await stack.create_account(expiry_hours=1)
    await stack.save_settings(
        account,
        enabled=True,
        expiry_hours=1,
        message="Hi {contact_firstname}, still there?",
        fallback_template=TEMPLATE,
    )
    customer = new_customer()
    # The window closes in about 15 s: too late for the reminder, then the template.
    await _post(
        stack,
        text_webhook(
            account.phone_number_id, wa_id=customer, timestamp=ago(24 * HOUR - 15), body="hi"
        ),
    )
    [template] = await eventually(
        lambda: stack.sent(account), lambda found: len(found) == 1, timeout=ARRIVAL + 15
    )
    assert template["kind"] == "template"
    assert template["template"] == {
        "name": "we_miss_you",
        "language": "en_US",
        "parameters": ["Sheena", "Acme E2E"],
    }
    records = await eventually(
        lambda: stack.reminders(account),
        lambda found: any(r["kind"] == "template" and r["outcome"] == "sent" for r in found),
    )
    by_kind = {r["kind"]: r for r in records}
    assert by_kind["reminder"]["outcome"] == "skipped_window_closed"
    assert by_kind["template"]["message_id"] == template["id"]
    await stays(lambda: stack.sent(account), lambda found: len(found) == 1, seconds=2)


async def test_quiet_hours_move_the_due_time_and_nothing_is_sent_inside_them(
    stack: Stack,
) -> None:
    now = datetime.now(UTC)
    end = (now + 2 * timedelta(hours=1)).replace(second=0, microsecond=0)
    account = await stack.create_account(expiry_hours=1)
    await stack.save_settings(
        account,
        enabled=True,
        expiry_hours=1,
        message="Hi {contact_firstname}, still there?",
        quiet_hours={
            "start": (now - timedelta(minutes=5)).strftime("%H:%M"),
            "end": end.strftime("%H:%M"),
        },
        timezone="UTC",
    )
    customer = new_customer()  # a 1-555 number: no zone of its own, the account's applies
    await _post(
        stack,
        text_webhook(account.phone_number_id, wa_id=customer, timestamp=ago(HOUR - 5), body="hi"),
    )
    session = await eventually(
        lambda: stack.session(account, customer),
        lambda response: (
            response.status_code == 200 and response.json()["reminder_due_at"] is not None
        ),
    )
    assert when(session.json()["reminder_due_at"]) == end
    await stays(lambda: stack.sent(account), lambda found: found == [], seconds=8)


async def test_a_template_whose_close_falls_in_quiet_hours_waits_shown_by_the_session(
    stack: Stack,
) -> None:
    now = datetime.now(UTC)
    end = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    account = await stack.create_account(expiry_hours=1)
    await stack.save_settings(
        account,
        enabled=True,
        expiry_hours=1,
        message="Hi {contact_firstname}, still there?",
        quiet_hours={
            "start": (now - timedelta(minutes=5)).strftime("%H:%M"),
            "end": end.strftime("%H:%M"),
        },
        fallback_template=TEMPLATE,
    )
    customer = new_customer()
    await _post(
        stack,
        text_webhook(
            account.phone_number_id, wa_id=customer, timestamp=ago(24 * HOUR - 3), body="hi"
        ),
    )
    session = await eventually(
        lambda: stack.session(account, customer),
        lambda response: (
            response.status_code == 200 and response.json()["template_due_at"] is not None
        ),
        timeout=ARRIVAL,
    )
    assert when(session.json()["template_due_at"]) == end
    assert session.json()["state"] == "expired"
    assert await stack.sent(account) == []
