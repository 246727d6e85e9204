"""End to end: ``wa-sessions demo-traffic`` fills a real stack (API, worker, Temporal dev server,
stand-in Graph API with its status webhooks) through the webhook path, and the analytics
endpoint then shows reminders sent, replies, and customers who opted out; on SQLite and
PostgreSQL.

A small run (8 customers, replies within 3 seconds) keeps it short.
"""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner, Result

from cli.main import app as cli_app
from tests.e2e.support import API_TOKEN, APP_SECRET, TEMPLATE, Json, Stack
from tests.support import eventually

pytestmark = pytest.mark.devserver

CUSTOMERS = 8


async def _demo_traffic(stack: Stack, account_id: str, *extra: str) -> Result:
    args = [
        "--api-url",
        str(stack.api.base_url),
        "--token",
        API_TOKEN,
        "--account",
        account_id,
        "--app-secret",
        APP_SECRET,
        "demo-traffic",
        "--sandbox-url",
        str(stack.sandbox.base_url),
        *extra,
    ]
    # The developer's own environment stays out of the command.
    env = {
        "API_URL": None,
        "API_TOKEN": None,
        "ACCOUNT_ID": None,
        "WHATSAPP_APP_SECRET": None,
        "SANDBOX_URL": None,
    }
    # CliRunner is synchronous: the command runs in a thread while this loop serves the stack.
    return await asyncio.to_thread(lambda: CliRunner().invoke(cli_app, args, env=env))


async def test_demo_traffic_fills_the_analytics(stack: Stack) -> None:
    account = await stack.create_account(expiry_hours=23, enabled=False)
    result = await _demo_traffic(
        stack,
        account.account_id,
        "--customers",
        str(CUSTOMERS),
        "--reply-seconds",
        "3",
        "--wait-seconds",
        "60",
        "--seed",
        "14",
    )
    assert result.exit_code == 0, (result.output, result.exception)
    out = result.stdout
    assert "set demo prices" in out
    assert f"{CUSTOMERS} customers" in out
    assert f"/analytics?account={account.account_id}" in out

    base = f"/v1/accounts/{account.account_id}"

    async def analytics() -> Json:
        answer = await stack.api.get(f"{base}/analytics")
        assert answer.status_code == 200, answer.text
        data: Json = answer.json()
        return data

    data = await eventually(analytics, lambda d: d["replied"] > 0)
    assert 0 < data["replied"] < data["reminders_sent"], data
    assert data["failed"] == 1  # the send the sandbox refused (131026)
    assert data["read"] < data["delivered"] <= data["reminders_sent"]  # unread and lost ones
    assert data["estimated_cost"] is not None and data["estimated_cost"]["currency"] == "USD"
    assert data["median_reply_seconds"] is not None

    records = await stack.reminders(account)
    outcomes = [r["outcome"] for r in records if r["kind"] == "reminder"]
    assert outcomes.count("skipped_opted_out") >= 1
    assert len(outcomes) == CUSTOMERS
    assert outcomes.count("sent") == data["reminders_sent"]
    assert {r["wa_id"][:2] for r in records} & {"44", "91", "49", "55", "15"}
    # What the worker sent went to the sandbox, one message per reminder sent.
    assert len(await stack.sent(account)) == data["reminders_sent"]

    # The settings: reminders on after an hour, the rest of the document as it was.
    settings = (await stack.api.get(f"{base}/session-settings")).json()
    assert (settings["enabled"], settings["expiry_hours"]) == (True, 1)
    assert settings["message"] == TEMPLATE
    assert settings["message_prices"]["default"] == {"amount": "0.0040", "currency": "USD"}
