"""``wa-sessions``: simulate customers, inspect sessions, change settings — over HTTP only.

Every command talks to the API (``--api-url`` / ``API_URL``) with the bearer token
(``--token`` / ``API_TOKEN``: the service's API token, or an account token for that account's
commands), so the same tool works against the local stack and against any deployment.
Failures print one clear line on stderr and exit with status 1.
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

import typer

from cli import demo, prices, render
from cli.durations import parse_duration
from cli.http import ApiClient, ApiError, ValidationFailed, decode
from cli.webhook import build_text_webhook, signed_body, simulated_message_id
from core.clock import utc_now
from core.config import DEV_PLACEHOLDER
from core.reach import SETTINGS_FIELDS
from core.vocabulary import BSUID_RE, MAX_EXPIRY_HOURS, MIN_EXPIRY_HOURS, WA_ID_RE, SessionState

app = typer.Typer(
    name="wa-sessions",
    help="Operate WhatsApp session reminders through the API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
accounts_app = typer.Typer(help="Create and show accounts.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
tokens_app = typer.Typer(
    help="Account tokens of --account: bearer tokens that reach that account only (needs the "
    "API token).",
    no_args_is_help=True,
)
app.add_typer(tokens_app, name="tokens")

SAVED = "Settings saved successfully"
DEFAULT_SANDBOX_URL = "http://localhost:8081"


@dataclass(frozen=True)
class Options:
    api_url: str
    token: str
    account: str
    app_secret: str

    def client(self) -> ApiClient:
        return ApiClient(self.api_url, token=self.token)

    def account_path(self, suffix: str = "") -> str:
        return f"/v1/accounts/{quote(self.account, safe='')}{suffix}"


@app.callback()
def main(
    ctx: typer.Context,
    api_url: Annotated[
        str, typer.Option("--api-url", envvar="API_URL", help="Base URL of the API.")
    ] = "http://localhost:8000",
    token: Annotated[
        str,
        typer.Option(
            "--token",
            envvar="API_TOKEN",
            help="API token or account token (wst_…, for its own account) of the management "
            "API (default: the local stack's placeholder).",
            show_default=False,
        ),
    ] = DEV_PLACEHOLDER,
    account: Annotated[
        str, typer.Option("--account", envvar="ACCOUNT_ID", help="Account to work on.")
    ] = "demo",
    app_secret: Annotated[
        str,
        typer.Option(
            "--app-secret",
            envvar="WHATSAPP_APP_SECRET",
            help="App secret that signs simulated webhooks (default: the local stack's).",
            show_default=False,
        ),
    ] = DEV_PLACEHOLDER,
) -> None:
    """Operate WhatsApp session reminders through the API."""
    ctx.obj = Options(api_url=api_url, token=token, account=account, app_secret=app_secret)


def _options(ctx: typer.Context) -> Options:
    options = ctx.obj
    assert isinstance(options, Options)
    return options


@contextmanager
def _failures_exit() -> Iterator[None]:
    """Any ``ApiError`` becomes its message on stderr and exit status 1."""
    try:
        yield
    except ApiError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from None


def _wa_id(number: str) -> str:
    digits = re.sub(r"[\s().-]", "", number).removeprefix("+")
    if not WA_ID_RE.fullmatch(digits):
        raise typer.BadParameter(
            f"{number!r} is not a WhatsApp number (7-15 digits, e.g. 15551234567)"
        )
    return digits


def _bsuid(text: str) -> str:
    if not BSUID_RE.fullmatch(text):
        raise typer.BadParameter(f"{text!r} is not a BSUID (e.g. US.13491208655302741918)")
    return text


def _customer(text: str) -> str:
    """A number (as people write it) or a BSUID, as the API's paths take it."""
    return text if BSUID_RE.fullmatch(text) else _wa_id(text)


def _shown(wa_id: str | None, user_id: str | None, username: str | None) -> str:
    if wa_id is not None:
        return f"+{wa_id}"
    return f"{username} ({user_id})" if username else str(user_id)


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


# -- simulate -----------------------------------------------------------------------------------


@app.command()
def simulate(
    ctx: typer.Context,
    number: Annotated[
        str | None, typer.Option("--from", help="Customer's WhatsApp number, e.g. 15551234567.")
    ] = None,
    bsuid: Annotated[
        str | None,
        typer.Option(
            "--bsuid",
            help="Customer's business-scoped user id, e.g. US.13491208655302741918 (alone: a "
            "customer who hides their number behind a username).",
        ),
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", help="Customer's WhatsApp username, e.g. @maria.")
    ] = None,
    text: Annotated[str, typer.Option("--text", help="What the customer writes.")] = "hello",
    ago: Annotated[
        str, typer.Option("--ago", help="Backdate the message: 90s, 59m, 2h, 1h30m.")
    ] = "0",
    name: Annotated[
        str | None, typer.Option("--name", help="Customer's WhatsApp profile name.")
    ] = None,
) -> None:
    """Send a signed webhook as if the customer had written (optionally some time ago)."""
    options = _options(ctx)
    if number is None and bsuid is None:
        raise typer.BadParameter("give the customer's --from number, --bsuid, or both")
    wa_id = None if number is None else _wa_id(number)
    user_id = None if bsuid is None else _bsuid(bsuid)
    age = _duration(ago)
    now = utc_now()
    sent_at = now - age
    with _failures_exit(), options.client() as api:
        account = api.get(options.account_path())
        message_id = simulated_message_id()
        payload = build_text_webhook(
            phone_number_id=str(account["phone_number_id"]),
            wa_id=wa_id,
            user_id=user_id,
            username=username,
            text=text,
            sent_at=sent_at,
            message_id=message_id,
            profile_name=name,
        )
        body, headers = signed_body(payload, app_secret=options.app_secret)
        ack = api.request("POST", "/webhooks/whatsapp", content=body, headers=headers)
        typer.echo(
            f"Simulated a message from {_shown(wa_id, user_id, username)} "
            f"to account {options.account!r} "
            f"(phone_number_id {account['phone_number_id']}), "
            f"sent {render.relative(sent_at, now=now)}: {text!r}"
        )
        typer.echo(f"Webhook accepted (HTTP 200), message id {message_id}.")
        if isinstance(ack, dict) and ack.get("unknown_account_items"):
            typer.echo("Warning: the API knows no account for this phone_number_id.", err=True)
        customer = wa_id or user_id
        try:
            session = api.get(options.account_path(f"/sessions/{customer}"))
        except ApiError as err:
            typer.echo(f"(session not readable yet: {err}; try `wa-sessions session {customer}`)")
            return
        typer.echo(
            f"Session: {session.get('state')}, reminder due "
            f"{render.relative(render.parse_time(session.get('reminder_due_at')), now=now)}"
        )
        typer.echo(f"Temporal Web UI: {session.get('temporal_ui_url')}")


# -- sessions ---------------------------------------------------------------------------------


@app.command()
def sessions(
    ctx: typer.Context,
    state: Annotated[
        SessionState | None, typer.Option("--state", help="Only sessions in this state.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 200,
) -> None:
    """List the account's sessions: state, last message, due time, window close, outcome."""
    options = _options(ctx)
    params: dict[str, Any] = {"limit": limit}
    if state is not None:
        params["state"] = state.value
    with _failures_exit(), options.client() as api:
        data = api.get(options.account_path("/sessions"), params=params)
    typer.echo(render.sessions(data.get("items", []), now=utc_now()))


@app.command()
def session(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="Customer's WhatsApp number, or their BSUID.")],
) -> None:
    """One session, live from its workflow, with its Temporal Web UI link."""
    options = _options(ctx)
    customer = _customer(number)
    with _failures_exit(), options.client() as api:
        data = api.get(options.account_path(f"/sessions/{customer}"))
    typer.echo(render.session(data, now=utc_now()))


# -- settings ---------------------------------------------------------------------------------


def _quiet_hours(text: str) -> dict[str, str]:
    """``22:00-07:00`` as the API's ``{"start", "end"}`` (the API checks the times)."""
    start, dash, end = text.partition("-")
    if not dash or "-" in end:
        raise typer.BadParameter(
            f"{text!r} is not START-END, e.g. 22:00-07:00", param_hint="--quiet-hours"
        )
    return {"start": start.strip(), "end": end.strip()}


def _keywords(text: str) -> list[str]:
    """``STOP,UNSUBSCRIBE`` as a list; an empty text is no keywords at all."""
    return [] if not text.strip() else [keyword.strip() for keyword in text.split(",")]


def _template(text: str) -> tuple[str, str]:
    name, colon, language = text.partition(":")
    if not colon or ":" in language:
        raise typer.BadParameter(
            f"{text!r} is not NAME:LANGUAGE, e.g. session_follow_up:en_US", param_hint="--template"
        )
    return name.strip(), language.strip()


def _either(flag: bool, value: object, option: str) -> None:
    if flag and value is not None:
        raise typer.BadParameter(f"give --{option} or --no-{option}, not both")


def _price_failure(message: str) -> typer.Exit:
    """A --price/--currency/--no-prices problem: one line on stderr, exit status 1."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(1)


@app.command()
def settings(
    ctx: typer.Context,
    enable: Annotated[
        bool | None,
        typer.Option(
            "--enable/--disable", help="Turn the reminders on or off.", show_default=False
        ),
    ] = None,
    hours: Annotated[
        int | None,
        typer.Option(
            "--hours",
            help=f"Hours of silence before the reminder ({MIN_EXPIRY_HOURS}-{MAX_EXPIRY_HOURS}).",
        ),
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", help="Reminder text, with merge fields.")
    ] = None,
    quiet_hours: Annotated[
        str | None,
        typer.Option(
            "--quiet-hours",
            help="Send nothing from START to END in the contact's local time, e.g. 22:00-07:00.",
        ),
    ] = None,
    no_quiet_hours: Annotated[
        bool, typer.Option("--no-quiet-hours", help="No quiet hours.", show_default=False)
    ] = False,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            help="IANA zone (e.g. Europe/Berlin) of the quiet hours for contacts whose number "
            "does not tell theirs.",
        ),
    ] = None,
    opt_out_keywords: Annotated[
        str | None,
        typer.Option(
            "--opt-out-keywords",
            help='Comma-separated replies that stop the reminders, e.g. STOP,UNSUBSCRIBE ("": '
            "none).",
        ),
    ] = None,
    opt_in_keywords: Annotated[
        str | None,
        typer.Option(
            "--opt-in-keywords",
            help='Comma-separated replies that resume them, e.g. START ("": none).',
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            help="Approved template sent when the window closes unanswered, as NAME:LANGUAGE "
            "(e.g. session_follow_up:en_US); its parameters are the --template-param given "
            "with it. Meta bills every template sent.",
        ),
    ] = None,
    template_params: Annotated[
        list[str] | None,
        typer.Option(
            "--template-param",
            help="The template's next body parameter ({{1}}, {{2}} …), with merge fields; "
            "repeat it. Without --template: replaces the saved template's parameters.",
        ),
    ] = None,
    no_template: Annotated[
        bool, typer.Option("--no-template", help="No template fallback.", show_default=False)
    ] = False,
    price_options: Annotated[
        list[str] | None,
        typer.Option(
            "--price",
            metavar="KEY=AMOUNT",
            help="What Meta charges per delivered message, for the cost estimate on the "
            "analytics page: default=0.0040, a country calling code (44=0.0300) or "
            "template=0.0100; repeat it. Amounts are exact decimals, sent as written. Each "
            "replaces that one price, the rest is kept; 44= or template= removes one.",
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency",
            metavar="CODE",
            help="Currency of every price, e.g. USD or EUR (default: the saved one, else USD).",
        ),
    ] = None,
    no_prices: Annotated[
        bool,
        typer.Option(
            "--no-prices", help="No message prices: no cost estimate.", show_default=False
        ),
    ] = False,
) -> None:
    """Show the reminder settings; with options, change them (the rest is kept)."""
    options = _options(ctx)
    _either(no_quiet_hours, quiet_hours, "quiet-hours")
    _either(no_template, template or template_params or None, "template")
    try:
        price_edits = prices.parse(price_options or [], currency)
    except prices.PriceError as err:
        raise _price_failure(str(err)) from None
    if no_prices and price_edits.given:
        raise _price_failure("give --price/--currency or --no-prices, not both")
    # The API replaces the whole document, so the saved one is read and sent back with only
    # the given options changed; a field this server does not return is not sent at all.
    changes: dict[str, Any] = {}
    if enable is not None:
        changes["enabled"] = enable
    if hours is not None:
        changes["expiry_hours"] = hours
    if message is not None:
        changes["message"] = message
    if quiet_hours is not None:
        changes["quiet_hours"] = _quiet_hours(quiet_hours)
    if no_quiet_hours:
        changes["quiet_hours"] = None
    if timezone is not None:
        changes["timezone"] = timezone
    if opt_out_keywords is not None:
        changes["opt_out_keywords"] = _keywords(opt_out_keywords)
    if opt_in_keywords is not None:
        changes["opt_in_keywords"] = _keywords(opt_in_keywords)
    if template is not None:
        name, language = _template(template)
        changes["fallback_template"] = {
            "name": name,
            "language": language,
            "body_parameters": list(template_params or []),
        }
    if no_template:
        changes["fallback_template"] = None
    if no_prices:
        changes[prices.FIELD] = None
    path = options.account_path("/session-settings")
    with _failures_exit(), options.client() as api:
        current = api.get(path)
        if not changes and not template_params and not price_edits.given:
            typer.echo(render.settings(current))
            return
        if template is None and template_params:
            kept = current.get("fallback_template")
            if not kept:
                typer.echo(
                    "Error: no template is saved: give --template NAME:LANGUAGE with the "
                    "--template-param options",
                    err=True,
                )
                raise typer.Exit(1)
            changes["fallback_template"] = kept | {"body_parameters": list(template_params)}
        if price_edits.given:
            # Changed price by price: the saved list is the base (amounts as they were written).
            try:
                changes[prices.FIELD] = prices.merged(current.get(prices.FIELD), price_edits)
            except prices.PriceError as err:
                raise _price_failure(str(err)) from None
        body = {field: current[field] for field in SETTINGS_FIELDS if field in current} | changes
        try:
            saved = api.put(path, body)
        except ValidationFailed as err:
            typer.echo("Settings not saved:", err=True)
            for field, messages in err.errors.items():
                for text in messages:
                    typer.echo(f"  {field}: {text}", err=True)
            raise typer.Exit(1) from None
    typer.echo(saved.get("message", SAVED))
    typer.echo(render.settings(saved.get("settings", body)))


# -- accounts ---------------------------------------------------------------------------------


@accounts_app.command("create")
def accounts_create(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="Account id (letters, digits, _ and -).")],
    company: Annotated[str, typer.Option("--company", help="Company name ({company_name}).")],
    phone_number_id: Annotated[
        str, typer.Option("--phone-number-id", help="Meta's id of the business phone number.")
    ],
    access_token: Annotated[
        str,
        typer.Option(
            "--access-token", prompt=True, hide_input=True, help="Graph API token (write-only)."
        ),
    ],
) -> None:
    """Create or update an account (PUT /v1/accounts/{id})."""
    options = _options(ctx)
    body = {
        "company_name": company,
        "phone_number_id": phone_number_id,
        "access_token": access_token,
    }
    with _failures_exit(), options.client() as api:
        response = api.send("PUT", f"/v1/accounts/{quote(account_id, safe='')}", json=body)
        data = decode(response)
    verb = "created" if response.status_code == 201 else "updated"
    typer.echo(f"Account {account_id!r} {verb}.")
    typer.echo(render.account(data))


@accounts_app.command("show")
def accounts_show(
    ctx: typer.Context,
    account_id: Annotated[
        str | None, typer.Argument(help="Account id (default: --account).")
    ] = None,
) -> None:
    """Show an account (its access token is never returned)."""
    options = _options(ctx)
    wanted = account_id or options.account
    with _failures_exit(), options.client() as api:
        data = api.get(f"/v1/accounts/{quote(wanted, safe='')}")
    typer.echo(render.account(data))


# -- account tokens ---------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    label: Annotated[
        str | None, typer.Option("--label", help="What the token is for (shown in lists).")
    ] = None,
) -> None:
    """Create a token for --account; it is printed this once and never again."""
    options = _options(ctx)
    with _failures_exit(), options.client() as api:
        data = api.request("POST", options.account_path("/tokens"), json={"label": label})
    typer.echo(f"Token {data['token_id']} created for account {options.account!r}:")
    typer.echo(f"  {data['token']}")
    typer.echo("Store it now: it is not shown again (the service keeps only its hash).")


@tokens_app.command("list")
def tokens_list(ctx: typer.Context) -> None:
    """The tokens of --account (ids and dates; never the tokens)."""
    options = _options(ctx)
    with _failures_exit(), options.client() as api:
        data = api.get(options.account_path("/tokens"))
    items = data.get("items", [])
    if not items:
        typer.echo("No tokens.")
    for item in items:
        state = f"revoked {item['revoked_at']}" if item["revoked_at"] else "active"
        label = f"  {item['label']}" if item.get("label") else ""
        typer.echo(f"{item['token_id']}  created {item['created_at']}  {state}{label}")


@tokens_app.command("revoke")
def tokens_revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="The token's id (tok_…), from `tokens list`.")],
) -> None:
    """Revoke a token of --account: it is refused from the next request on."""
    options = _options(ctx)
    with _failures_exit(), options.client() as api:
        api.request("DELETE", options.account_path(f"/tokens/{quote(token_id, safe='')}"))
    typer.echo(f"Token {token_id} revoked.")


# -- audit trail and sandbox ------------------------------------------------------------------


@app.command()
def reminders(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 20,
    number: Annotated[
        str | None,
        typer.Option("--number", help="Only this customer's reminders (number or BSUID)."),
    ] = None,
) -> None:
    """The reminder audit trail, newest first."""
    options = _options(ctx)
    params: dict[str, Any] = {"limit": limit}
    if number is not None:
        params["wa_id"] = _customer(number)
    with _failures_exit(), options.client() as api:
        data = api.get(options.account_path("/reminders"), params=params)
    typer.echo(render.reminders(data.get("items", []), now=utc_now()))
    if data.get("next"):
        typer.echo("(more: raise --limit)")


@app.command()
def outbox(
    sandbox_url: Annotated[
        str,
        typer.Option("--sandbox-url", envvar="SANDBOX_URL", help="Base URL of the sandbox."),
    ] = DEFAULT_SANDBOX_URL,
) -> None:
    """Messages the sandbox Graph API recorded instead of delivering them."""
    client = ApiClient(
        sandbox_url,
        token=None,
        hint="Is the local stack running in sandbox mode? Set --sandbox-url.",
    )
    with _failures_exit(), client as sandbox:
        data = sandbox.get("/_sandbox/messages")
    typer.echo(render.outbox(data.get("items", []), now=utc_now()))


# -- demo traffic -----------------------------------------------------------------------------


@app.command("demo-traffic")
def demo_traffic(
    ctx: typer.Context,
    customers: Annotated[
        int, typer.Option("--customers", min=1, max=200, help="How many customers write.")
    ] = 24,
    reply_seconds: Annotated[
        float,
        typer.Option(
            "--reply-seconds", min=0, max=600, help="Spread the customers' replies over this."
        ),
    ] = 45.0,
    wait_seconds: Annotated[
        float,
        typer.Option(
            "--wait-seconds", min=1, max=1800, help="Wait at most this for the reminders."
        ),
    ] = 120.0,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Repeat a run: the same numbers and choices.")
    ] = None,
    sandbox_url: Annotated[
        str,
        typer.Option("--sandbox-url", envvar="SANDBOX_URL", help="Base URL of the sandbox."),
    ] = DEFAULT_SANDBOX_URL,
) -> None:
    """Fill the sandbox with a realistic day of traffic: customers write, reminders go out,
    some opt out, about half reply; then open the analytics page."""
    options = _options(ctx)
    sandbox = ApiClient(
        sandbox_url,
        token=None,
        hint="Is the local stack running in sandbox mode? Set --sandbox-url.",
    )
    with _failures_exit(), options.client() as api, sandbox:
        demo.Demo(
            api=api,
            sandbox=sandbox,
            account=options.account,
            app_secret=options.app_secret,
            echo=typer.echo,
            rng=random.Random(seed),
            wait_seconds=wait_seconds,
            reply_seconds=reply_seconds,
            tty=sys.stdout.isatty(),
        ).run(customers)
