"""No customer number, BSUID, username, name, email or rendered reminder in any log line or any
Temporal workflow history (docs/operating.md#logs).

One pass through everything that can carry them — contact PUTs, signed message and status
webhooks (profile names, a username), session, session-list, reminder and preview reads, a
settings save, reminders actually sent and recorded, and error paths (404, 405, 422, a database
outage) — with every log record of the process captured at DEBUG (API, worker and stand-in
Graph API all run in this process), then every history of the account fetched from the dev
server, its payloads decoded, and both searched. The rendered text legitimately lives in the
audit table and goes to the Graph API; it must not be anywhere else.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.temporal_names import settings_workflow_id
from tests.e2e.support import (
    HOUR,
    Account,
    Json,
    Stack,
    ago,
    customer_webhook,
    message_webhook,
    status_webhook,
)
from tests.support import eventually

# Recognisable values, each of which must never show up.
NUMBER = "447700900461"
BSUID = "US.90817263545463728190"
USERNAME = "@wilhelmina_probe"
PROFILE = "Wilhelmina Fairbrook"
FIRST, LAST = "Ottoline", "Quarrendon"
EMAIL = "ottoline.quarrendon@example.net"
TEMPLATE = (
    "Hi {contact_firstname} {contact_lastname}! {company_name} here. We will write to "
    "{contact_email} or call {contact_phone}. Still interested?"
)
RENDERED = (
    f"Hi {FIRST} {LAST}! Acme E2E here. We will write to {EMAIL} or call +{NUMBER}. "
    "Still interested?"
)
FORBIDDEN = (NUMBER, BSUID, USERNAME, PROFILE, "Wilhelmina", "Fairbrook", FIRST, LAST, EMAIL)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, self.format(record)))


@contextmanager
def _captured_logs() -> Iterator[_Capture]:
    """Every record of the process at DEBUG: the root logger, and the loggers that write
    somewhere else instead of propagating to it (uvicorn's access log, when it is on).

    uvicorn's loggers are lowered from the tests' "warning" to DEBUG (``python -m api`` has
    them at INFO); the levels libraries set for themselves (SQLAlchemy's WARN, aiosqlite's INFO
    from store/db.py) are the service's own configuration and stay."""
    capture = _Capture()
    root = logging.getLogger()
    # A logger that neither propagates nor has a handler writes nowhere, and uvicorn writes its
    # access log only when that logger has a handler. pytest attaches its own capture handlers
    # to such loggers; they are the harness's, not the service's, so they are set aside here.
    silent = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    harness = {
        logger: [h for h in logger.handlers if type(h).__module__.startswith("_pytest")]
        for logger in silent
    }
    for logger, handlers in harness.items():
        for handler in handlers:
            logger.removeHandler(handler)
    loggers = [root, *(logger for logger in silent if logger.handlers)]
    lowered = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    levels = {logger: logger.level for logger in [*loggers, *lowered]}
    for logger in loggers:
        logger.addHandler(capture)
    for logger in [root, *lowered]:
        logger.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        for logger in loggers:
            logger.removeHandler(capture)
        for logger, level in levels.items():
            logger.setLevel(level)
        for logger, handlers in harness.items():
            for handler in handlers:
                logger.addHandler(handler)


def _decoded(node: Any, out: list[str]) -> None:
    """Every string of a history's JSON, payloads decoded from base64."""
    if isinstance(node, dict):
        if "data" in node and "metadata" in node and isinstance(node["data"], str):
            out.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
        for value in node.values():
            _decoded(value, out)
    elif isinstance(node, list):
        for value in node:
            _decoded(value, out)
    elif isinstance(node, str):
        out.append(node)


async def _histories(stack: Stack, account: Account) -> dict[str, str]:
    """Every workflow of the account (sessions and settings propagation): id → history text."""
    ids = {settings_workflow_id(account.account_id)}
    async for execution in stack.temporal.list_workflows(f'AccountId = "{account.account_id}"'):
        ids.add(execution.id)
    texts = {}
    for workflow_id in sorted(ids):
        history = await stack.temporal.get_workflow_handle(workflow_id).fetch_history()
        strings: list[str] = []
        _decoded(json.loads(history.to_json()), strings)
        texts[workflow_id] = "\n".join(strings)
    return texts


async def _sent_reminders(stack: Stack, account: Account) -> list[Json]:
    return await eventually(
        lambda: stack.reminders(account),
        lambda items: (
            sum(item["outcome"] == "sent" for item in items) == 2
            and all(item["delivery_status"] == "read" for item in items)
        ),
        timeout=60,
    )


async def test_no_personal_data_in_logs_or_histories(stack: Stack) -> None:
    with _captured_logs() as capture:
        account = await stack.create_account(expiry_hours=1, message=TEMPLATE)
        acct = f"/v1/accounts/{account.account_id}"
        api = stack.api

        # The business stores the contact; the customer writes (profile name) and is due in
        # seconds; a second customer hides behind a username and is named by a BSUID.
        answer = await api.put(
            f"{acct}/contacts/{NUMBER}",
            json={"first_name": FIRST, "last_name": LAST, "email": EMAIL},
        )
        assert answer.status_code in (200, 201), answer.text
        answer = await stack.post_webhook(
            message_webhook(account.phone_number_id, (NUMBER, ago(HOUR - 4)), profile_name=PROFILE)
        )
        assert answer.status_code == 200, answer.text
        answer = await stack.post_webhook(
            customer_webhook(
                account.phone_number_id,
                timestamp=ago(HOUR - 4),
                user_id=BSUID,
                username=USERNAME,
            )
        )
        assert answer.status_code == 200, answer.text
        answer = await api.put(f"{acct}/contacts/{BSUID}", json={"first_name": FIRST})
        assert answer.status_code in (200, 201), answer.text

        # Both reminders go out; the stand-in reports sent/delivered/read to the webhook.
        records = await _sent_reminders(stack, account)
        [to_number] = [r for r in records if r["wa_id"] == NUMBER]
        assert to_number["text"] == RENDERED  # in the audit trail, where it belongs
        # Meta's status again (a duplicate), as Meta sends it, with the number.
        answer = await stack.post_webhook(
            status_webhook(
                account.phone_number_id,
                wa_id=NUMBER,
                message_id=to_number["message_id"],
                status="read",
                timestamp=ago(0),
                callback_data=to_number["reminder_id"],
            )
        )
        assert answer.status_code == 200, answer.text

        # Every read that names the customer.
        for customer in (NUMBER, BSUID):
            assert (await stack.session(account, customer)).status_code == 200
            answer = await api.get(f"{acct}/reminders", params={"wa_id": customer})
            assert answer.status_code == 200 and answer.json()["items"], answer.text
        assert await stack.sessions(account)
        assert await stack.sessions(account, state="reminded")
        answer = await api.post(f"{acct}/session-settings/preview", json={"wa_id": NUMBER})
        assert answer.json()["text"] == RENDERED, answer.text
        answer = await api.post(
            f"{acct}/session-settings/preview",
            json={
                "message": TEMPLATE,
                "contact": {
                    "first_name": FIRST,
                    "last_name": LAST,
                    "email": EMAIL,
                    "wa_id": f"+{NUMBER}",
                },
            },
        )
        assert answer.json()["text"] == RENDERED, answer.text
        await stack.save_settings(account, enabled=True, expiry_hours=2, message=TEMPLATE)

        # Error paths with the customer in the path or the query.
        assert (await api.get(f"/v1/accounts/nobody/sessions/{NUMBER}")).status_code == 404
        assert (await api.get(f"{acct}/contacts/{NUMBER}")).status_code == 200
        assert (await api.delete(f"{acct}/contacts/{NUMBER}")).status_code == 405
        answer = await api.put(f"{acct}/contacts/{NUMBER}", json={"email": f"{FIRST} at {LAST}"})
        assert answer.status_code == 422, answer.text
        answer = await api.get(f"{acct}/reminders", params={"wa_id": f"+{NUMBER} {BSUID}"})
        assert answer.status_code == 422, answer.text
        async with stack.database_outage():
            assert (await stack.session(account, NUMBER)).status_code == 503
            answer = await api.put(f"{acct}/contacts/{NUMBER}", json={"first_name": FIRST})
            assert answer.status_code == 503, answer.text

        histories = await _histories(stack, account)

    # The capture saw the service: the API's access log with its redactions, the worker.
    names = {name for name, _ in capture.lines}
    assert "api.access" in names and "api.errors" in names, sorted(names)
    assert any("customer:" in line for name, line in capture.lines if name == "api.access")
    assert any(name.startswith("temporalio") for name in names), sorted(names)
    # The test's own HTTP client logs the URLs it calls; those are the test's, not the service's.
    own = f"{stack.api.base_url}".rstrip("/") + "/v1/"
    logged = "\n".join(
        line for name, line in capture.lines if not (name == "httpx" and own in line)
    )
    for value in (*FORBIDDEN, RENDERED):
        assert value not in logged, f"{value!r} logged:\n" + "\n".join(
            line for line in logged.splitlines() if value in line
        )

    # Every session's and the settings workflow's history; decoding worked if the message id
    # of the sent reminder (an activity result) is readable in it.
    assert len(histories) >= 3, sorted(histories)
    assert any(to_number["message_id"] in text for text in histories.values())
    for workflow_id, text in histories.items():
        for value in (*FORBIDDEN, RENDERED):
            assert value not in text, f"{value!r} in the history of {workflow_id}"
