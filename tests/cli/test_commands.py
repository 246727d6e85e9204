"""Every ``wa-sessions`` command against a real API served over HTTP (and a real Temporal)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from core import temporal_names as names
from core.config import Settings
from core.conversation_key import conversation_key, new_conversation_key
from core.identity import CustomerIdentity
from core.vocabulary import ReminderOutcome
from store.db import create_engine, create_sessionmaker
from store.repository import Store
from tests.cli.conftest import KEY_SECRET, UI_URL, Cli, unique_account
from tests.support import contact_by_number, eventually, free_port

CUSTOMER = "15551234567"
BSUID = "US.13491208655302741918"


async def _create_account(cli: Cli) -> str:
    account_id, phone_number_id = cli.account, unique_account()[1]
    out = await cli.ok(
        "accounts",
        "create",
        account_id,
        "--company",
        "Acme",
        "--phone-number-id",
        phone_number_id,
        "--access-token",
        "EAAG-secret",
    )
    assert f"Account {account_id!r} created." in out
    return phone_number_id


async def test_accounts_create_then_show(cli: Cli) -> None:
    phone_number_id = await _create_account(cli)

    out = await cli.ok("accounts", "show", cli.account)
    assert cli.account in out
    assert "Acme" in out
    assert phone_number_id in out
    assert "EAAG-secret" not in out

    again = await cli.ok(
        "accounts",
        "create",
        cli.account,
        "--company",
        "Acme Two",
        "--phone-number-id",
        phone_number_id,
        "--access-token",
        "EAAG-other",
    )
    assert "updated" in again
    assert "Acme Two" in await cli.ok("accounts", "show")  # defaults to --account


async def test_access_token_is_prompted_without_echo(cli: Cli) -> None:
    result = await cli.run(
        "accounts",
        "create",
        cli.account,
        "--company",
        "Acme",
        "--phone-number-id",
        "987654",
        input="EAAG-typed\n",
    )
    assert result.exit_code == 0, result.output
    assert "EAAG-typed" not in result.output


async def test_settings_change_and_keep(cli: Cli) -> None:
    await _create_account(cli)
    shown = await cli.ok("settings")
    assert "enabled:" in shown
    assert "no" in shown.splitlines()[0]

    message = "Hi {contact_firstname}, still there? {company_name}"
    out = await cli.ok("settings", "--enable", "--hours", "1", "--message", message)
    assert "Settings saved successfully" in out

    shown = await cli.ok("settings")
    assert "enabled:      yes" in shown
    assert "expiry_hours: 1" in shown
    assert message in shown

    # Only what is given changes: the rest is merged from the saved settings.
    out = await cli.ok("settings", "--disable")
    assert "Settings saved successfully" in out
    shown = await cli.ok("settings")
    assert "enabled:      no" in shown
    assert "expiry_hours: 1" in shown
    assert message in shown


async def test_invalid_settings_show_the_field_and_change_nothing(cli: Cli) -> None:
    await _create_account(cli)
    before = await cli.ok("settings")

    result = await cli.run("settings", "--hours", "30")
    assert result.exit_code == 1
    assert "Settings not saved" in result.stderr
    assert "expiry_hours:" in result.stderr
    assert "23" in result.stderr
    assert "Traceback" not in result.output

    result = await cli.run("settings", "--message", "Hello {first_name}, how are you?")
    assert result.exit_code == 1
    assert "message:" in result.stderr
    assert "first_name" in result.stderr

    assert await cli.ok("settings") == before


async def test_simulate_starts_the_conversation_workflow(
    cli: Cli, settings: Settings, ts_env: WorkflowEnvironment
) -> None:
    await _create_account(cli)
    before = datetime.now(UTC)

    out = await cli.ok(
        "simulate",
        "--from",
        f"+{CUSTOMER}",
        "--text",
        "hello",
        "--ago",
        "59m",
        "--name",
        "John Smith",
    )
    assert f"+{CUSTOMER}" in out
    assert "59 min ago" in out
    assert "wamid.sim-" in out
    assert f"Temporal Web UI: {UI_URL}/namespaces/" in out

    key = conversation_key(secret=KEY_SECRET, account_id=cli.account, wa_id=CUSTOMER)
    workflow_id = names.conversation_workflow_id(account_id=cli.account, conversation_key=key)
    description = await ts_env.client.get_workflow_handle(workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.typed_search_attributes.get(names.ACCOUNT_ID) == cli.account

    # The profile name reached the contact the API stores for merge fields.
    engine = create_engine(settings.database_url)
    try:
        contact = await contact_by_number(
            Store(create_sessionmaker(engine)), account_id=cli.account, wa_id=CUSTOMER
        )
    finally:
        await engine.dispose()
    assert contact is not None
    assert contact.profile_name == "John Smith"
    assert before - timedelta(minutes=1) < contact.created_at

    shown = await cli.ok("session", CUSTOMER)
    assert CUSTOMER in shown
    assert workflow_id in shown
    assert f"{UI_URL}/namespaces/" in shown
    assert description.run_id in shown


async def test_session_of_unknown_customer(cli: Cli) -> None:
    await _create_account(cli)
    result = await cli.run("session", "15550000000")
    assert result.exit_code == 1
    assert "not found (404)" in result.stderr
    assert "no session" in result.stderr


async def test_sessions_without_visibility_says_so(cli: Cli) -> None:
    await _create_account(cli)
    result = await cli.run("sessions")
    assert result.exit_code == 1
    assert "501" in result.stderr
    assert "Traceback" not in result.output


async def test_sessions_list_on_the_dev_server(dev_cli: Cli) -> None:
    await _create_account(dev_cli)
    await dev_cli.ok("settings", "--enable", "--hours", "5")
    await dev_cli.ok("simulate", "--from", CUSTOMER, "--ago", "10m")

    async def listing() -> str:
        return await dev_cli.ok("sessions")

    # The worker publishes the session's search attributes; visibility catches up.
    out = await eventually(listing, lambda text: "10 min ago" in text, timeout=20, interval=0.3)
    header, _, row = out.splitlines()[:3]
    assert header.startswith("CUSTOMER")
    assert row.split()[:2] == [CUSTOMER, "waiting"]
    assert "in 23 h" in row  # the window closes 24 h after the message
    assert "in 4 h 50 min" in row  # due after 5 h of silence

    waiting = await dev_cli.ok("sessions", "--state", "waiting")
    assert CUSTOMER in waiting
    assert await dev_cli.ok("sessions", "--state", "expired") == "no sessions\n"
    refused = await dev_cli.run("sessions", "--state", "sleeping")
    assert refused.exit_code == 2


async def test_reminders_audit_trail(cli: Cli, settings: Settings) -> None:
    await _create_account(cli)
    assert await cli.ok("reminders") == "no reminders yet\n"

    engine = create_engine(settings.database_url)
    try:
        await Store(create_sessionmaker(engine)).reminders.record_decision(
            account_id=cli.account,
            conversation_key=conversation_key(
                secret=KEY_SECRET, account_id=cli.account, wa_id=CUSTOMER
            ),
            wa_id=CUSTOMER,
            last_customer_message_at=datetime.now(UTC) - timedelta(hours=2),
            outcome=ReminderOutcome.SKIPPED_DISABLED,
            reason="reminders are disabled",
        )
    finally:
        await engine.dispose()

    out = await cli.ok("reminders", "--limit", "5")
    assert CUSTOMER in out
    assert "skipped_disabled" in out
    assert "reminders are disabled" in out
    assert CUSTOMER in await cli.ok("reminders", "--number", CUSTOMER)


async def test_outbox_lists_what_the_sandbox_recorded(cli: Cli, graph_sandbox: str) -> None:
    async with httpx.AsyncClient(base_url=graph_sandbox) as http:
        await http.delete("/_sandbox/messages")
        response = await http.post(
            "/v26.0/777000/messages",
            headers={"Authorization": "Bearer EAAG-secret"},
            json={
                "messaging_product": "whatsapp",
                "to": f"+{CUSTOMER}",
                "type": "text",
                "text": {"body": "Hi John! Still interested?"},
            },
        )
        assert response.status_code == 200

    out = await cli.ok("outbox", "--sandbox-url", graph_sandbox)
    assert "777000" in out
    assert f"+{CUSTOMER}" in out
    assert "Hi John! Still interested?" in out


async def test_wrong_token_is_a_clear_error(cli: Cli) -> None:
    result = await cli.run("accounts", "show", "demo", token="wrong-token")
    assert result.exit_code == 1
    assert "401" in result.stderr
    assert "--token" in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


async def test_wrong_app_secret_is_a_clear_error(cli: Cli) -> None:
    await _create_account(cli)
    cli.app_secret = "not-the-secret"
    result = await cli.run("simulate", "--from", CUSTOMER)
    assert result.exit_code == 1
    assert "401" in result.stderr
    assert "--app-secret" in result.stderr


async def test_unknown_account_is_a_clear_error(cli: Cli) -> None:
    result = await cli.run("settings")
    assert result.exit_code == 1
    assert "not found (404)" in result.stderr
    assert cli.account in result.stderr


async def test_connection_refused_is_a_clear_error() -> None:
    cli = Cli(api_url=f"http://127.0.0.1:{free_port()}", account="demo")
    result = await cli.run("sessions")
    assert result.exit_code == 1
    assert "cannot connect" in result.stderr
    assert "API_URL" in result.stderr
    assert "Traceback" not in result.output

    result = await cli.run("outbox", "--sandbox-url", cli.api_url)
    assert result.exit_code == 1
    assert "--sandbox-url" in result.stderr


async def test_bad_arguments_are_usage_errors(cli: Cli) -> None:
    result = await cli.run("simulate", "--from", "12ab", "--text", "x")
    assert result.exit_code == 2
    assert "not a WhatsApp number" in result.output
    result = await cli.run("simulate", "--from", CUSTOMER, "--ago", "an hour")
    assert result.exit_code == 2
    assert "not a duration" in result.output
    result = await cli.run("simulate", "--text", "x")
    assert result.exit_code == 2
    assert "--bsuid" in result.output
    result = await cli.run("simulate", "--bsuid", "us.123")
    assert result.exit_code == 2
    assert "not a BSUID" in result.output


async def test_simulate_a_customer_with_a_username_and_no_number(
    cli: Cli, settings: Settings, ts_env: WorkflowEnvironment
) -> None:
    await _create_account(cli)
    out = await cli.ok("simulate", "--bsuid", BSUID, "--username", "@maria", "--ago", "5m")
    assert f"@maria ({BSUID})" in out
    assert "Session: waiting" in out

    key = new_conversation_key(
        secret=KEY_SECRET, account_id=cli.account, identity=CustomerIdentity(user_id=BSUID)
    )
    workflow_id = names.conversation_workflow_id(account_id=cli.account, conversation_key=key)
    description = await ts_env.client.get_workflow_handle(workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert BSUID not in workflow_id and "maria" not in workflow_id

    shown = await cli.ok("session", BSUID)
    assert "@maria" in shown and workflow_id in shown
    # Then Meta names the same customer by number too: still the one conversation.
    await cli.ok("simulate", "--from", CUSTOMER, "--bsuid", BSUID)
    assert workflow_id in await cli.ok("session", CUSTOMER)
