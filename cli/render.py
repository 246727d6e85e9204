"""Plain-text rendering of API answers: tables, key/value blocks, human-relative times.

Pure: every function takes ``now`` (or needs no clock) and returns text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cli import prices

MISSING = "-"


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 string from the API as an aware datetime (naive ones are UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def relative(when: datetime | None, *, now: datetime) -> str:
    """``"in 3 h"``, ``"5 min ago"``, ``"just now"``; ``"-"`` for no time."""
    if when is None:
        return MISSING
    seconds = (when - now).total_seconds()
    size = abs(seconds)
    if size < 10:
        return "just now"
    if size < 60:
        amount = f"{int(size)} s"
    elif size < 90 * 60:
        amount = f"{round(size / 60)} min"
    elif size < 48 * 3600:
        hours, rest = divmod(round(size / 60), 60)
        amount = f"{hours} h" if hours >= 10 or rest == 0 else f"{hours} h {rest} min"
    else:
        amount = f"{round(size / 86400)} d"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def when(value: Any, *, now: datetime) -> str:
    """An API timestamp as ``"2024-05-01 10:00 UTC (5 min ago)"``."""
    moment = parse_time(value)
    if moment is None:
        return MISSING
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({relative(moment, now=now)})"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, with a header rule."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers).rstrip(), rule, *(line(row).rstrip() for row in rows)])


def block(pairs: Sequence[tuple[str, str]]) -> str:
    """``key: value`` lines with the values aligned."""
    width = max((len(key) for key, _ in pairs), default=0)
    return "\n".join(f"{key + ':':<{width + 1}} {value}" for key, value in pairs)


def _text(value: Any) -> str:
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# -- resources ---------------------------------------------------------------------------------


def account(data: Mapping[str, Any]) -> str:
    return block(
        [
            ("account", _text(data.get("account_id"))),
            ("company", _text(data.get("company_name"))),
            ("phone_number_id", _text(data.get("phone_number_id"))),
        ]
    )


def settings(data: Mapping[str, Any]) -> str:
    """The settings document; keys kept as short as ``expiry_hours`` so the values line up as
    before the reaching fields, which an older server does not return (then left out)."""
    pairs = [
        ("enabled", _text(data.get("enabled"))),
        ("expiry_hours", _text(data.get("expiry_hours"))),
        ("message", _text(data.get("message"))),
    ]
    if "quiet_hours" in data:
        quiet = data["quiet_hours"]
        pairs.append(("quiet_hours", f"{quiet['start']}-{quiet['end']}" if quiet else "off"))
    if "timezone" in data:
        pairs.append(("timezone", _text(data["timezone"])))
    for key, label in (("opt_out_keywords", "opt_out"), ("opt_in_keywords", "opt_in")):
        if key in data:
            pairs.append((label, ", ".join(data[key] or ()) or "none"))
    if "fallback_template" in data:
        template = data["fallback_template"]
        if not template:
            pairs.append(("template", "off"))
        else:
            pairs.append(("template", f"{template['name']} ({template['language']})"))
            # Meta's own names of the body parameters: {{1}}, {{2}} …
            pairs.extend(
                (f"  {{{{{number}}}}}", _text(parameter))
                for number, parameter in enumerate(template.get("body_parameters", ()), 1)
            )
    if prices.FIELD in data:
        pairs.extend(prices.pairs(data[prices.FIELD]))
    return block(pairs)


def customer(item: Mapping[str, Any]) -> str:
    """The number; for a customer who hides it behind a username, the username or BSUID (and
    for a conversation with no stored contact, its key)."""
    names = ("wa_id", "username", "user_id", "conversation_key")
    return _text(next((item[name] for name in names if item.get(name)), None))


SESSION_HEADERS = ("CUSTOMER", "STATE", "LAST MESSAGE", "DUE", "WINDOW CLOSES", "OUTCOME")


def sessions(items: Sequence[Mapping[str, Any]], *, now: datetime) -> str:
    if not items:
        return "no sessions"
    rows = [
        [
            customer(item),
            _text(item.get("state")),
            relative(parse_time(item.get("last_customer_message_at")), now=now),
            relative(parse_time(item.get("reminder_due_at")), now=now),
            relative(parse_time(item.get("window_closes_at")), now=now),
            _text(item.get("reminder_outcome")),
        ]
        for item in items
    ]
    return table(SESSION_HEADERS, rows)


def session(data: Mapping[str, Any], *, now: datetime) -> str:
    return block(
        [
            ("customer", customer(data)),
            ("BSUID", _text(data.get("user_id"))),
            ("state", _text(data.get("state"))),
            ("last customer message", when(data.get("last_customer_message_at"), now=now)),
            ("reminder due", when(data.get("reminder_due_at"), now=now)),
            ("window closes", when(data.get("window_closes_at"), now=now)),
            ("reminder outcome", _text(data.get("reminder_outcome"))),
            ("workflow id", _text(data.get("workflow_id"))),
            ("run id", _text(data.get("run_id"))),
            ("Temporal Web UI", _text(data.get("temporal_ui_url"))),
        ]
    )


REMINDER_HEADERS = ("DECIDED", "CUSTOMER", "KIND", "OUTCOME", "REASON", "DELIVERY", "MESSAGE ID")


def reminders(items: Sequence[Mapping[str, Any]], *, now: datetime) -> str:
    if not items:
        return "no reminders yet"
    rows = []
    for item in items:
        reason = item.get("reason")
        if item.get("error_code") is not None:
            reason = f"{reason or 'error'} (code {item['error_code']})"
        rows.append(
            [
                relative(parse_time(item.get("decided_at")), now=now),
                customer(item),
                _text(item.get("kind", "reminder")),
                _text(item.get("outcome")),
                _text(reason),
                _text(item.get("delivery_status")),
                _text(item.get("message_id")),
            ]
        )
    return table(REMINDER_HEADERS, rows)


OUTBOX_HEADERS = ("RECEIVED", "PHONE_NUMBER_ID", "TO", "STATUS", "MESSAGE")


def outbox(items: Sequence[Mapping[str, Any]], *, now: datetime) -> str:
    if not items:
        return "no messages recorded by the sandbox"
    rows = [
        [
            relative(parse_time(item.get("received_at")), now=now),
            _text(item.get("phone_number_id")),
            _text(item.get("to") or item.get("user_id")),
            _text(item.get("answered_status")),
            outbox_message(item),
        ]
        for item in items
    ]
    return table(OUTBOX_HEADERS, rows)


def outbox_message(item: Mapping[str, Any]) -> str:
    """A text's body; a template as ``template <name> (<language>): "<p1>", "<p2>"``.

    The sandbox does not know a template's wording, so its parameters are shown as sent, each
    quoted: a parameter may hold a comma or a space, and the quotes keep them apart.
    """
    template = item.get("template")
    if item.get("kind") != "template" or not isinstance(template, Mapping):
        return _text(item.get("body"))
    shown = f"template {_text(template.get('name'))} ({_text(template.get('language'))})"
    parameters = template.get("parameters") or []
    if not parameters:
        return shown
    quoted = ", ".join(json.dumps(str(text), ensure_ascii=False) for text in parameters)
    return f"{shown}: {quoted}"
