"""Load generation: the two ways of handing a customer message to Temporal, and two drivers.

The two senders deliver the *same* message the *same* way as far as Temporal is concerned:

- ``WebhookSender`` POSTs Meta's webhook for it, signed with the app secret, to the API (which
  verifies, parses, upserts the contact and does the signal-with-start);
- ``BareSender`` does that signal-with-start itself, through the very function the API calls
  (``core.temporal.start_conversation``): same workflow id, input, signal, id-reuse policy,
  summary, search attribute and RPC timeout, on the same task queue, so the same worker handles
  both.

Drivers: ``closed_loop`` keeps N requests in flight for a duration (throughput);
``open_loop`` sends at fixed instants whatever the answers (latency at an offered load; the
latency counts from the scheduled instant, so a generator that falls behind shows up as
latency instead of hiding it).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
from temporalio.client import Client

from bench.stack import APP_SECRET, TASK_QUEUE, BenchAccount, Stack
from core.clock import utc_now
from core.contract import ConversationInput, CustomerMessage
from core.temporal import start_conversation
from whatsapp.signature import SIGNATURE_HEADER, sign

# wa_ids are 12 digits: 1 followed by an 11-digit customer number.
_WA_ID_BASE = 100_000_000_000


@dataclass(frozen=True)
class Message:
    """One inbound customer message."""

    account: BenchAccount
    wa_id: str
    message_id: str
    sent_at: datetime


def wa_id(number: int) -> str:
    return str(_WA_ID_BASE + number)


class Population:
    """Customer numbers: ``existing`` ones (sessions already running) and fresh ones."""

    def __init__(self, accounts: Sequence[BenchAccount], *, next_number: int = 0) -> None:
        self.accounts = list(accounts)
        self._next = next_number
        self.existing: list[int] = []

    def account_of(self, number: int) -> BenchAccount:
        return self.accounts[number % len(self.accounts)]

    @property
    def size(self) -> int:
        """How many customer numbers were handed out (each one opened a session)."""
        return self._next

    def new_number(self) -> int:
        number = self._next
        self._next += 1
        return number

    def message(self, number: int, *, sent_at: datetime | None = None) -> Message:
        return Message(
            account=self.account_of(number),
            wa_id=wa_id(number),
            message_id=f"wamid.bench-{uuid.uuid4().hex}",
            sent_at=sent_at or utc_now(),
        )

    def mix(self, *, new_fraction: float, seed: int) -> Iterator[Message]:
        """Endless messages: a new conversation with probability ``new_fraction``, else a
        message to a random existing one (the existing list does not grow, so both modes of a
        round draw from the same set)."""
        rng = random.Random(seed)
        while True:
            if not self.existing or rng.random() < new_fraction:
                yield self.message(self.new_number())
            else:
                yield self.message(rng.choice(self.existing))


def webhook_body(messages: Sequence[Message]) -> bytes:
    """Meta's ``messages`` webhook carrying ``messages`` (one change per business number)."""
    by_number: dict[str, list[Message]] = {}
    for message in messages:
        by_number.setdefault(message.account.phone_number_id, []).append(message)
    changes = []
    for phone_number_id, items in by_number.items():
        value: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": phone_number_id,
                "phone_number_id": phone_number_id,
            },
            "contacts": [
                {"wa_id": m.wa_id, "profile": {"name": f"Bench Customer{m.wa_id[-4:]}"}}
                for m in items
            ],
            "messages": [
                {
                    "from": m.wa_id,
                    "id": m.message_id,
                    "timestamp": str(int(m.sent_at.timestamp())),
                    "type": "text",
                    "text": {"body": "hello"},
                }
                for m in items
            ],
        }
        changes.append({"field": "messages", "value": value})
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "0", "changes": changes}],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


class Sender(Protocol):
    name: str

    async def send(self, messages: Sequence[Message]) -> None: ...


@dataclass
class WebhookSender:
    """Meta's side: a signed POST /webhooks/whatsapp per batch of messages."""

    http: httpx.AsyncClient
    name: str = "webhook"

    async def send(self, messages: Sequence[Message]) -> None:
        body = webhook_body(messages)
        response = await self.http.post(
            "/webhooks/whatsapp",
            content=body,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(APP_SECRET.encode(), body),
            },
        )
        if response.status_code != 200:
            raise RuntimeError(f"webhook answered {response.status_code}: {response.text[:200]}")


@dataclass
class BareSender:
    """Bare Temporal: the API's signal-with-start, straight from a Temporal client."""

    stack: Stack
    name: str = "bare"

    async def send(self, messages: Sequence[Message]) -> None:
        # Same order and concurrency rule as the API: one conversation's messages in sequence.
        for message in messages:
            await signal_with_start(self.stack.client, self.stack, message)


async def signal_with_start(client: Client, stack: Stack, message: Message) -> None:
    account_id = message.account.account_id
    await start_conversation(
        client,
        task_queue=TASK_QUEUE,
        conversation=ConversationInput(
            account_id=account_id, conversation_key=stack.key(message.account, message.wa_id)
        ),
        message=CustomerMessage(
            message_id=message.message_id,
            sent_at=message.sent_at,
            received_at=utc_now(),
        ),
    )


@dataclass
class RoundResult:
    """What one driver run measured."""

    sender: str
    messages: int
    errors: int
    elapsed: float
    latencies: list[float] = field(repr=False)
    cpu: dict[str, float] = field(default_factory=dict)
    max_send_lag: float = 0.0
    settle_seconds: float = 0.0
    first_error: str | None = None
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.elapsed if self.elapsed > 0 else 0.0


async def closed_loop(
    sender: Sender,
    messages: Iterator[Message],
    *,
    concurrency: int,
    duration: float,
) -> RoundResult:
    """``concurrency`` requests always in flight (one message each) for ``duration`` seconds."""
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + duration
    last_done = started

    async def lane() -> None:
        nonlocal last_done
        while time.perf_counter() < deadline:
            message = next(messages)
            sent = time.perf_counter()
            try:
                await sender.send([message])
            except Exception as err:  # counted and reported, never hidden
                errors.append(f"{type(err).__name__}: {err}")
                continue
            done = time.perf_counter()
            latencies.append(done - sent)
            last_done = max(last_done, done)

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return RoundResult(
        sender=sender.name,
        messages=len(latencies),
        errors=len(errors),
        elapsed=last_done - started,
        latencies=latencies,
        first_error=errors[0] if errors else None,
        error_kinds=_kinds(errors),
    )


async def open_loop(
    sender: Sender,
    messages: Iterator[Message],
    *,
    rate: float,
    duration: float,
) -> RoundResult:
    """Send one message every ``1/rate`` s for ``duration`` s, never waiting for answers."""
    count = int(rate * duration)
    latencies: list[float] = []
    errors: list[str] = []
    max_lag = 0.0
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []

    async def one(message: Message, scheduled: float) -> None:
        try:
            await sender.send([message])
        except Exception as err:  # counted and reported
            errors.append(f"{type(err).__name__}: {err}")
            return
        latencies.append(time.perf_counter() - scheduled)

    # Built beforehand: the generator must not spend the schedule's time on building messages.
    batch = [next(messages) for _ in range(count)]
    started = time.perf_counter() + 0.05
    for index, message in enumerate(batch):
        scheduled = started + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        max_lag = max(max_lag, time.perf_counter() - scheduled)
        tasks.append(loop.create_task(one(message, scheduled)))
    await asyncio.gather(*tasks)
    return RoundResult(
        sender=sender.name,
        messages=len(latencies),
        errors=len(errors),
        elapsed=time.perf_counter() - started,
        latencies=latencies,
        max_send_lag=max_lag,
        first_error=errors[0] if errors else None,
        error_kinds=_kinds(errors),
    )


async def in_batches(
    send: Callable[[Sequence[Message]], Awaitable[None]],
    messages: Sequence[Message],
    *,
    batch: int,
    concurrency: int,
) -> None:
    """Hand over ``messages`` quickly (set-up, not measured): batches, several in flight."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(chunk: Sequence[Message]) -> None:
        async with semaphore:
            await send(chunk)

    chunks = [messages[i : i + batch] for i in range(0, len(messages), batch)]
    await asyncio.gather(*(one(chunk) for chunk in chunks))


def _kinds(errors: Sequence[str]) -> dict[str, int]:
    """Errors counted by kind (their first 80 characters: type and status, not details)."""
    return dict(Counter(error[:80] for error in errors))


def merge_kinds(results: Sequence[RoundResult]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for result in results:
        total.update(result.error_kinds)
    return dict(total)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]
