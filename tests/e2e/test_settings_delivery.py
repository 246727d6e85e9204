"""End to end: a saved setting reaches every running session, durably
(docs/sessions.md#settings-changes).

Each test enables reminders for an account whose customer is already overdue and paused, then
breaks a different link of the delivery, and checks that the reminder goes out anyway, without
anybody saving a second time.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.service import RPCError, RPCStatusCode

from api.routes import settings as settings_route
from core import visibility
from tests.e2e.support import EXPECTED_TEXT, HOUR, TEMPLATE, Account, Stack, ago, message_webhook
from tests.e2e.support import new_customer as a_customer
from tests.support import eventually

pytestmark = pytest.mark.devserver

# The reconciler runs every second here; the second pass comes 10 s after the first.
DELIVERY = 30.0


async def _paused_overdue_customer(stack: Stack) -> tuple[Account, str]:
    account = await stack.create_account(expiry_hours=1, enabled=False)
    customer = a_customer()
    response = await stack.post_webhook(
        message_webhook(account.phone_number_id, (customer, ago(2 * HOUR)))
    )
    assert response.status_code == 200, response.text
    await eventually(
        lambda: stack.session(account, customer),
        lambda r: r.status_code == 200 and r.json()["state"] == "paused",
    )
    return account, customer


async def _reminded(stack: Stack, account: Account) -> None:
    messages = await eventually(lambda: stack.sent(account), bool, timeout=DELIVERY)
    assert [m["body"] for m in messages] == [EXPECTED_TEXT]


async def test_a_save_whose_delivery_could_not_start_still_reaches_a_paused_session(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, _ = await _paused_overdue_customer(stack)

    async def temporal_unreachable(*args: object, **kwargs: object) -> str:
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(settings_route, "deliver_settings", temporal_unreachable)
    saved = await stack.save_settings(account, enabled=True, expiry_hours=1, message=TEMPLATE)
    assert saved["delivery"]["status"] == "deferred"
    monkeypatch.undo()
    # The worker's reconciler finds the undelivered version; nobody saves again.
    await _reminded(stack, account)


async def test_a_session_the_first_pass_did_not_see_is_reached_by_the_second(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, _ = await _paused_overdue_customer(stack)
    real = visibility.account_sessions
    listed: list[str] = []

    def late_visibility(account_id: str) -> str:
        # As if the session had started while the settings were saved and was not yet
        # visible to the first listing.
        listed.append(account_id)
        if account_id == account.account_id and listed.count(account_id) == 1:
            return real("nobody-at-all")
        return real(account_id)

    monkeypatch.setattr(visibility, "account_sessions", late_visibility)
    await stack.save_settings(account, enabled=True, expiry_hours=1, message=TEMPLATE)
    await _reminded(stack, account)
    assert listed.count(account.account_id) >= 2


async def test_a_session_starting_while_the_settings_are_saved_gets_them(stack: Stack) -> None:
    account = await stack.create_account(expiry_hours=1, enabled=False)
    customer = a_customer()
    posted, _ = await asyncio.gather(
        stack.post_webhook(message_webhook(account.phone_number_id, (customer, ago(2 * HOUR)))),
        stack.save_settings(account, enabled=True, expiry_hours=1, message=TEMPLATE),
    )
    assert posted.status_code == 200, posted.text
    await _reminded(stack, account)
