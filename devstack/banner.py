"""The lines the local stack logs once everything is up: where to look and what to try next."""

from __future__ import annotations

from devstack import queries
from devstack.plan import DEMO_ACCOUNT_ID, TEMPORAL_DB_FILE, StackPlan, redact_url

CLI = ".venv/bin/wa-sessions"

# The CLI's own defaults (cli/main.py): options are added only where the stack differs.
CLI_DEFAULT_API_PORT = 8000
CLI_DEFAULT_SANDBOX_PORT = 8081


def next_steps(plan: StackPlan) -> list[str]:
    """Operator CLI commands a newcomer runs first, in walkthrough order (sandbox mode)."""
    cli = CLI
    if plan.api.port != CLI_DEFAULT_API_PORT:
        cli += f" --api-url {plan.public_api_url}"
    outbox = f"{cli} outbox"
    if plan.sandbox is not None and plan.sandbox.port != CLI_DEFAULT_SANDBOX_PORT:
        outbox += f" --sandbox-url {plan.sandbox_url}"
    return [
        f"{cli} settings --enable --hours 1",
        f"{cli} simulate --from 15551234567 --text hi --ago 59m",
        outbox,
        f"{cli} sessions",
        f"{cli} session 15551234567",
    ]


def banner_lines(plan: StackPlan) -> list[str]:
    """The banner, one log line each."""
    width = 18
    sandbox_url = plan.sandbox_url
    mode = (
        "sandbox: outbound WhatsApp messages are recorded, not delivered"
        if sandbox_url is not None
        else f"real WhatsApp Cloud API at {plan.whatsapp_api_base_url}"
    )
    rows = [
        ("API docs", f"{plan.public_api_url}/docs"),
        ("Settings page", f"{plan.public_api_url}/"),
        ("Temporal Web UI", plan.web_ui_workflows_url()),
    ]
    if sandbox_url is not None:
        rows.append(("Sandbox outbox", f"{sandbox_url}/_sandbox/messages"))
    rows += [
        ("Data directory", f"{plan.data_dir} ({TEMPORAL_DB_FILE}, SQLite file if used)"),
        ("Database", redact_url(plan.database_url)),
        ("Temporal", f"{plan.temporal} namespace {plan.namespace}"),
    ]
    lines = ["", "WhatsApp Session Management is running", f"  {'Mode'.ljust(width)}{mode}"]
    lines += [f"  {label.ljust(width)}{value}" for label, value in rows]
    if sandbox_url is not None:
        lines += ["", f"Try it (account {DEMO_ACCOUNT_ID!r} exists):"]
        lines += [f"  {command}" for command in next_steps(plan)]
    lines += ["", "Temporal Web UI queries (paste into the workflow filter):"]
    lines += [f"  {name}: {query}" for name, query in queries.EXAMPLES.items()]
    lines += [
        f"  reminders due in the next hour: {queries.reminders_due_in_next_hour()}",
        "",
        "Press Ctrl-C to stop everything.",
    ]
    return lines
