"""``wa-sessions demo-traffic``: a realistic day of traffic in the sandbox, in a minute or two,
so that the sessions, the outbox and the analytics page have something to show on day one.

Everything travels the way real traffic does. Customers' messages are signed webhooks POSTed to
``/webhooks/whatsapp`` (as ``simulate`` sends them). The worker sends the reminders through the
sandbox Graph API, and the sandbox posts Meta's status webhooks back. The sandbox's control API
(``whatsapp/sandbox.py``) plays what makes the delivery funnel realistic: a few reminders whose
statuses never come (``lost``), a few delivered but never read (``unread``), and one that
WhatsApp refuses (131026, "message undeliverable": ``failed``).

The steps (``run``):

1. check that the service sends to the sandbox (``GET /v1/sandbox/messages`` answers; it needs
   the API token) and that the sandbox's control API answers: demo traffic never goes to Meta;
2. reminders on with 1 hour of silence, the rest of the settings document kept; demo message
   prices when the account has none;
3. customers with numbers of several countries write their first message, backdated 1 to 23
   hours, so that their reminders are due at once; a few write the opt-out keyword right after
   it (one webhook with both messages, as Meta batches them), so they are skipped_opted_out;
4. wait (bounded) until every reminder is decided and its statuses have come;
5. about half of the customers who read their reminder reply, spread over ``reply_seconds``;
6. wait (bounded) until the replies are counted, and print a summary and the page's URL.

Numbers are random (``--seed`` repeats a run), so that a second run makes new conversations.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

from cli.http import ApiClient, ApiError
from cli.render import parse_time
from cli.webhook import Text, build_texts_webhook, signed_body, simulated_message_id
from core.clock import utc_now
from core.reach import SETTINGS_FIELDS

# The field of the settings document with the account's prices (docs/analytics.md#cost).
PRICES_FIELD: Final = "message_prices"
DEMO_CURRENCY: Final = "USD"
DEMO_DEFAULT_PRICE: Final = "0.0040"
DEMO_COUNTRY_PRICES: Final = {"44": "0.0300", "91": "0.0014"}


def demo_prices() -> dict[str, Any]:
    """The demo's ``message_prices``: a default and two countries, as decimal strings."""

    def price(amount: str) -> dict[str, str]:
        return {"amount": amount, "currency": DEMO_CURRENCY}

    return {
        "default": price(DEMO_DEFAULT_PRICE),
        "by_country_code": {code: price(a) for code, a in DEMO_COUNTRY_PRICES.items()},
    }


# A permanent refusal of Meta's (docs/sending.md#error-classification): the record is failed.
REFUSAL: Final = {"kind": "http", "status": 400, "code": 131026, "times": 1}

EXPIRY_HOURS: Final = 1
# First messages are backdated this much: their 1-hour silences are due at once, and the
# window (24 hours) is still open.
OLDEST: Final = timedelta(hours=23)
NEWEST: Final = timedelta(hours=1, minutes=5)
OPT_OUT_AFTER: Final = timedelta(minutes=2)
# Records decided this long before the run started are not the run's (clock skew margin).
SKEW: Final = timedelta(minutes=1)
POLL_SECONDS: Final = 0.5
STATUS_WAIT_SECONDS: Final = 15.0
REPLY_COUNT_WAIT_SECONDS: Final = 30.0
PAGE_SIZE: Final = 200


@dataclass(frozen=True)
class Country:
    name: str
    prefix: str  # the number's first digits: calling code and a plausible mobile range
    digits: int  # random digits after the prefix
    weight: int
    names: tuple[str, ...]


COUNTRIES: Final = (
    Country(
        "UK",
        "4477009",
        5,
        3,
        ("Oliver Smith", "Amelia Jones", "Harry Taylor", "Isla Brown", "George Wilson"),
    ),
    Country(
        "India",
        "9198",
        8,
        3,
        ("Priya Sharma", "Arjun Patel", "Ananya Iyer", "Rohan Gupta", "Kavya Reddy"),
    ),
    Country(
        "Germany",
        "49151",
        8,
        2,
        ("Lena Müller", "Jonas Schmidt", "Mia Schneider", "Felix Fischer", "Hannah Weber"),
    ),
    Country(
        "Brazil",
        "55119",
        8,
        2,
        ("Ana Souza", "Lucas Oliveira", "Beatriz Santos", "Gabriel Lima", "Júlia Costa"),
    ),
    Country(
        "US",
        "1555",
        7,
        2,
        ("Emily Johnson", "Michael Brown", "Sarah Miller", "David Garcia", "Jessica Davis"),
    ),
)
QUESTIONS: Final = (
    "Hi! Is the blue jacket still available in M?",
    "Can I change the delivery address of my order?",
    "Do you deliver on Saturdays?",
    "I'd like to book a table for four tomorrow evening.",
    "Is there a discount on a second pair?",
    "My parcel hasn't arrived yet, can you check?",
    "Can I pay on delivery?",
    "Do you have the charger for the X200?",
    "How long does a screen repair take?",
    "Hello, what are your opening hours?",
)
REPLIES: Final = (
    "Yes, still interested! Please send the link.",
    "Thanks, I'll order today.",
    "Sorry, I was busy. Saturday works for me.",
    "Great, thank you!",
    "Yes please, keep it for me.",
    "Could you call me this afternoon?",
    "Perfect, see you then.",
    "OK, I'll pay by card.",
)


class DemoError(ApiError):
    """The demo cannot run here; the message says why and what to do."""


@dataclass(frozen=True)
class Customer:
    wa_id: str
    name: str
    country: str
    question: str
    wrote_at: datetime
    opts_out: bool


@dataclass(frozen=True)
class Plan:
    """What the sandbox is asked to do to the reminders, counted from the customers."""

    customers: tuple[Customer, ...]
    lost: int  # reminders whose status webhooks never come
    unread: int  # delivered, never read
    refused: int  # refused by WhatsApp (failed)


def plan(count: int, *, now: datetime, rng: random.Random, opt_out: bool = True) -> Plan:
    """``count`` customers (distinct numbers) and the faults their reminders meet."""
    opting_out = max(1, round(count * 0.12)) if opt_out and count >= 3 else 0
    chosen = rng.choices(COUNTRIES, weights=[c.weight for c in COUNTRIES], k=count)
    numbers: set[str] = set()
    customers = []
    for index, country in enumerate(chosen):
        wa_id = country.prefix + "".join(rng.choices("0123456789", k=country.digits))
        while wa_id in numbers:
            wa_id = country.prefix + "".join(rng.choices("0123456789", k=country.digits))
        numbers.add(wa_id)
        age = NEWEST + (OLDEST - NEWEST) * rng.random()
        customers.append(
            Customer(
                wa_id=wa_id,
                name=rng.choice(country.names),
                country=country.name,
                question=rng.choice(QUESTIONS),
                wrote_at=now - age,
                opts_out=index < opting_out,
            )
        )
    rng.shuffle(customers)
    reminded = count - opting_out
    refused = 1 if reminded >= 4 else 0
    accepted = reminded - refused
    lost = min(max(1, round(reminded * 0.1)), accepted // 3) if accepted >= 3 else 0
    unread = min(max(1, round(reminded * 0.15)), (accepted - lost) // 3)
    return Plan(customers=tuple(customers), lost=lost, unread=max(0, unread), refused=refused)


@dataclass
class Outcome:
    """What became of the run's reminders, by customer number."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def with_outcome(self, outcome: str) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["outcome"] == outcome]

    def sent(self) -> list[dict[str, Any]]:
        return self.with_outcome("sent")

    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if str(r["outcome"]).startswith("failed")]


class Progress:
    """One line that is rewritten on a terminal, and printed when it changes elsewhere."""

    def __init__(self, echo: Callable[[str], None], *, tty: bool) -> None:
        self._echo = echo
        self._tty = tty
        self._last = ""

    def show(self, text: str) -> None:
        if text == self._last:
            return
        self._last = text
        if self._tty:
            sys.stdout.write("\r" + text.ljust(70))
            sys.stdout.flush()
        else:
            self._echo(text)

    def done(self) -> None:
        if self._tty and self._last:
            sys.stdout.write("\n")
            sys.stdout.flush()
        self._last = ""


@dataclass
class Demo:
    """One run of the demo against one account (see the module docstring for the steps)."""

    api: ApiClient
    sandbox: ApiClient
    account: str
    app_secret: str
    echo: Callable[[str], None]
    rng: random.Random
    wait_seconds: float
    reply_seconds: float
    tty: bool = False
    clock: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep

    def path(self, suffix: str = "") -> str:
        return f"/v1/accounts/{quote(self.account, safe='')}{suffix}"

    # -- 1. where the traffic goes -----------------------------------------------------------------

    def check_sandbox(self, phone_number_id: str) -> None:
        try:
            self.api.get("/v1/sandbox/messages", params={"phone_number_id": phone_number_id})
        except ApiError as err:
            if err.status == 404:
                raise DemoError(
                    "the service is not in sandbox mode: demo-traffic never sends to the real "
                    "WhatsApp Cloud API"
                ) from None
            if err.status == 403:
                raise DemoError(
                    "demo-traffic needs the API token (it checks that the service sends to the "
                    "sandbox, which an account token may not ask)"
                ) from None
            raise
        self.sandbox.get("/_sandbox/failures")  # the control API answers

    # -- 2. the settings ---------------------------------------------------------------------------

    def prepare_settings(self) -> list[str]:
        """Reminders on, 1 hour; demo prices when none are set. Returns the opt-out keywords."""
        path = self.path("/session-settings")
        current = self.api.get(path)
        changes: dict[str, Any] = {"enabled": True, "expiry_hours": EXPIRY_HOURS}
        has_prices = PRICES_FIELD in current
        if has_prices and current[PRICES_FIELD] is None:
            changes[PRICES_FIELD] = demo_prices()
        fields = (*SETTINGS_FIELDS, PRICES_FIELD)
        body = {name: current[name] for name in fields if name in current} | changes
        self.api.put(path, body)
        self.echo(
            f"Settings of account {self.account!r}: reminders on after {EXPIRY_HOURS} hour of "
            "silence (the rest kept)."
        )
        if PRICES_FIELD in changes:
            countries = ", ".join(
                f"+{code} {amount}" for code, amount in DEMO_COUNTRY_PRICES.items()
            )
            self.echo(
                f"No message prices were set: set demo prices ({DEMO_DEFAULT_PRICE} "
                f"{DEMO_CURRENCY} a message; {countries}). Change them on the settings page or "
                "with wa-sessions settings --price."
            )
        elif not has_prices:
            self.echo("This service has no message prices: the cost stays unknown.")
        if current.get("quiet_hours"):
            quiet = current["quiet_hours"]
            self.echo(
                f"Quiet hours are set ({quiet['start']}-{quiet['end']}): reminders due inside "
                "them wait for their end."
            )
        keywords: list[str] = list(current.get("opt_out_keywords") or [])
        return keywords

    # -- 3. the customers write ------------------------------------------------------------------

    def fault_sandbox(self, demo: Plan) -> None:
        if demo.lost:
            self.sandbox.request(
                "POST", "/_sandbox/status-faults", json={"mode": "lost", "times": demo.lost}
            )
        if demo.unread:
            self.sandbox.request(
                "POST", "/_sandbox/status-faults", json={"mode": "unread", "times": demo.unread}
            )
        if demo.refused:
            self.sandbox.request("POST", "/_sandbox/failures", json=REFUSAL)
        self.echo(
            f"Sandbox: {_count(demo.lost, 'reminder')} will get no status, {demo.unread} will "
            f"be delivered but never read, {demo.refused} will be refused by WhatsApp (131026)."
        )

    def post(self, phone_number_id: str, customer: Customer, texts: Sequence[Text]) -> None:
        payload = build_texts_webhook(
            phone_number_id=phone_number_id,
            texts=texts,
            wa_id=customer.wa_id,
            profile_name=customer.name,
        )
        body, headers = signed_body(payload, app_secret=self.app_secret)
        self.api.request("POST", "/webhooks/whatsapp", content=body, headers=headers)

    def write_first_messages(
        self, phone_number_id: str, demo: Plan, opt_out_keyword: str | None
    ) -> None:
        for customer in demo.customers:
            texts = [Text(customer.question, customer.wrote_at, simulated_message_id())]
            if customer.opts_out and opt_out_keyword is not None:
                texts.append(
                    Text(
                        opt_out_keyword,
                        customer.wrote_at + OPT_OUT_AFTER,
                        simulated_message_id(),
                    )
                )
            self.post(phone_number_id, customer, texts)
        countries = sorted({c.country for c in demo.customers})
        stopped = sum(1 for c in demo.customers if c.opts_out and opt_out_keyword is not None)
        self.echo(
            f"{len(demo.customers)} customers ({', '.join(countries)}) wrote between "
            f"{_hours(NEWEST)} and {_hours(OLDEST)} ago"
            + (f"; {stopped} of them then wrote {opt_out_keyword!r}." if stopped else ".")
        )

    # -- 4. the reminders ------------------------------------------------------------------------

    def decisions(self, numbers: Iterable[str], since: datetime) -> Outcome:
        """The newest reminder decision of each of ``numbers`` taken since ``since``."""
        wanted = set(numbers)
        found = Outcome()
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE_SIZE}
            if cursor:
                params["cursor"] = cursor
            page = self.api.get(self.path("/reminders"), params=params)
            older = False
            for record in page.get("items", []):
                decided = parse_time(record.get("decided_at"))
                if decided is None or decided < since - SKEW:
                    older = True
                    continue
                number = record.get("wa_id")
                if (
                    record.get("kind", "reminder") == "reminder"
                    and number in wanted
                    and number not in found.records
                ):
                    found.records[number] = record
            cursor = page.get("next")
            if older or not cursor or len(found.records) == len(wanted):
                return found

    def await_decisions(self, demo: Plan, since: datetime) -> Outcome:
        numbers = [c.wa_id for c in demo.customers]
        progress = Progress(self.echo, tty=self.tty)
        deadline = time.monotonic() + self.wait_seconds
        while True:
            outcome = self.decisions(numbers, since)
            done = len(outcome.records)
            progress.show(f"Waiting for the reminders: {done}/{len(numbers)} decided")
            if done == len(numbers) or time.monotonic() >= deadline:
                break
            self.sleep(POLL_SECONDS)
        progress.done()
        # Meta's statuses follow the sends within a second or two (the sandbox's): wait for
        # them too, so that the customers who reply are ones who read the reminder.
        expected_read = len(outcome.sent()) - demo.lost - demo.unread
        deadline = time.monotonic() + STATUS_WAIT_SECONDS
        while _read(outcome) < expected_read and time.monotonic() < deadline:
            self.sleep(POLL_SECONDS)
            outcome = self.decisions(numbers, since)
        waiting = len(numbers) - len(outcome.records)
        opted_out = len(outcome.with_outcome("skipped_opted_out"))
        self.echo(
            f"Reminders decided: {len(outcome.sent())} sent ({_read(outcome)} read), "
            f"{len(outcome.failed())} failed, {opted_out} skipped (opted out)"
            + (f"; {waiting} still waiting (quiet hours?)." if waiting else ".")
        )
        return outcome

    # -- 5. replies ------------------------------------------------------------------------------

    def reply(self, phone_number_id: str, demo: Plan, outcome: Outcome) -> list[Customer]:
        read = [r["wa_id"] for r in outcome.sent() if r.get("delivery_status") == "read"]
        count = min(round(len(outcome.sent()) / 2), len(read))
        chosen = set(self.rng.sample(sorted(read), count))
        repliers = [c for c in demo.customers if c.wa_id in chosen]
        if not repliers:
            self.echo("No customer read a reminder, so nobody replies.")
            return []
        self.rng.shuffle(repliers)
        offsets = sorted(self.rng.uniform(0, self.reply_seconds) for _ in repliers)
        self.echo(
            f"{len(repliers)} customers reply over the next {round(self.reply_seconds)} s; "
            "the others do not."
        )
        progress = Progress(self.echo, tty=self.tty)
        start = time.monotonic()
        for done, (customer, offset) in enumerate(zip(repliers, offsets, strict=True), start=1):
            self.sleep(max(0.0, start + offset - time.monotonic()))
            text = Text(self.rng.choice(REPLIES), self.clock(), simulated_message_id())
            self.post(phone_number_id, customer, [text])
            progress.show(f"Replies: {done}/{len(repliers)}")
        progress.done()
        return repliers

    # -- 6. the figures --------------------------------------------------------------------------

    def replied_count(self) -> int | None:
        """The account's replied reminders of the last 30 days; None without analytics."""
        try:
            data = self.api.get(self.path("/analytics"))
        except ApiError as err:
            if err.status == 404:
                return None
            raise
        replied = data.get("replied") if isinstance(data, dict) else None
        return replied if isinstance(replied, int) else None

    def await_replies(self, before: int | None, expected: int) -> int | None:
        """Replies counted since ``before``, once all ``expected`` are (or the wait ends)."""
        if before is None:
            return None
        deadline = time.monotonic() + REPLY_COUNT_WAIT_SECONDS
        while True:
            now = self.replied_count()
            counted = None if now is None else now - before
            if counted is None or counted >= expected or time.monotonic() >= deadline:
                return counted
            self.sleep(POLL_SECONDS)

    def run(self, customers: int) -> None:
        account = self.api.get(self.path())
        phone_number_id = str(account["phone_number_id"])
        self.check_sandbox(phone_number_id)
        keywords = self.prepare_settings()
        keyword = next(
            (k for k in keywords if k.upper() == "STOP"), keywords[0] if keywords else None
        )
        if keyword is None:
            self.echo("The account has no opt-out keywords: nobody opts out.")
        started = self.clock()
        demo = plan(customers, now=started, rng=self.rng, opt_out=keyword is not None)
        self.fault_sandbox(demo)
        self.write_first_messages(phone_number_id, demo, keyword)
        outcome = self.await_decisions(demo, started)
        before = self.replied_count()
        repliers = self.reply(phone_number_id, demo, outcome)
        counted = self.await_replies(before, len(repliers))
        replies = _count(len(repliers), "reply", "replies") + (
            "" if counted is None or counted == len(repliers) else f" ({counted} counted so far)"
        )
        opted_out = len(outcome.with_outcome("skipped_opted_out"))
        failed = len(outcome.failed())
        self.echo(
            f"Done: {_count(len(demo.customers), 'customer')}, "
            f"{_count(len(outcome.sent()), 'reminder')} sent"
            + (f" ({failed} failed)" if failed else "")
            + f", {replies}, {opted_out} opted out."
        )
        self.echo(
            f"Open {self.api.base_url}/analytics?account={quote(self.account, safe='')} "
            f"(sign in with the API token)."
        )


def _read(outcome: Outcome) -> int:
    return sum(1 for r in outcome.sent() if r.get("delivery_status") == "read")


def _count(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else words or word + 's'}"


def _hours(span: timedelta) -> str:
    hours, seconds = divmod(int(span.total_seconds()), 3600)
    minutes = seconds // 60
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
