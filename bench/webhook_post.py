"""One webhook POST of the largest body Meta can send (3 MiB), and how long the answer takes.

Meta waits only a few seconds for a webhook's answer and redelivers the whole POST after a
timeout, so the work of one POST must fit in that time whatever it carries. Four shapes, each
filled up to ``MAX_WEBHOOK_BYTES``; the first two in the shape of ``bench.load.webhook_body``:

- ``one conversation``: every message from one customer (one signal-with-start, folded);
- ``new conversations``: every message from a customer never seen (a contact and a session each);
- ``reminder statuses``: only statuses (``delivered``, with our callback data, as Meta sends
  them), each about a different sent reminder, whose records the bench first inserts straight
  into the service's database;
- ``unknown statuses``: only statuses of messages that are no reminder (the business's own
  chats: no callback data, a wamid the store never saw).

For each: the answer's status and time; for messages, how long until every conversation of the
POST has a running session (a visibility count), which is when the hand-over is really done; for
reminder statuses, how many records the answer left ``delivered``.

    python -m bench.webhook_post [--quick] [--database sqlite|postgres] [--shapes a,b]
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bench.load import Message, Population, wa_id, webhook_body
from bench.report import cpu_per, parser, save, table
from bench.stack import APP_SECRET, BenchAccount, Stack, open_stack
from core.clock import utc_now
from core.vocabulary import DeliveryStatus, ReminderOutcome
from store.db import create_engine
from store.models import ReminderRow
from whatsapp.signature import SIGNATURE_HEADER, sign
from whatsapp.webhook import MAX_WEBHOOK_BYTES

# How long the bench waits for every session of a POST to be running.
GIVE_UP_AFTER = 900.0
SHAPES = ("one conversation", "new conversations", "reminder statuses", "unknown statuses")


def largest(build: Callable[[int], bytes], limit: int) -> tuple[int, bytes]:
    """The most items whose body ``build`` makes still fits in ``limit`` bytes."""
    probe = 200
    per_item = len(build(probe)) / probe
    count = int(limit / per_item)
    body = build(count)
    while len(body) > limit:
        count -= max(1, (len(body) - limit) // int(per_item) + 1)
        body = build(count)
    return count, body


def _wamid(index: int, tag: int) -> str:
    return f"wamid.bench-{tag:04d}-{index:028d}"


def _reminder_id(index: int, tag: int) -> str:
    return f"00000000-{tag:04d}-4000-8000-{index:012d}"


def status_body(
    account: BenchAccount, count: int, *, tag: int, callback_data: bool, sent_at: int
) -> bytes:
    """Meta's ``messages`` webhook carrying ``count`` ``delivered`` statuses, shaped as Meta
    sends them (pricing included); with our callback data when ``callback_data``."""
    statuses = []
    for i in range(count):
        item: dict[str, Any] = {
            "id": _wamid(i, tag),
            "status": "delivered",
            "timestamp": str(sent_at),
            "recipient_id": wa_id(i),
            "pricing": {
                "billable": True,
                "pricing_model": "PMP",
                "category": "marketing",
                "type": "regular",
            },
        }
        if callback_data:
            item["biz_opaque_callback_data"] = _reminder_id(i, tag)
        statuses.append(item)
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": account.phone_number_id,
            "phone_number_id": account.phone_number_id,
        },
        "statuses": statuses,
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "0", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


async def insert_sent_reminders(stack: Stack, account: BenchAccount, count: int, tag: int) -> None:
    """``count`` reminder records the send activity would have left ``sent`` (wamid stored, no
    status yet), inserted straight into the service's database, a thousand rows a statement."""
    now = utc_now()
    rows = [
        {
            "reminder_id": _reminder_id(i, tag),
            "account_id": account.account_id,
            "conversation_key": f"bench-{tag}-{i}",
            "wa_id": wa_id(i),
            "user_id": None,
            "last_customer_message_at": now - timedelta(hours=23),
            "outcome": ReminderOutcome.SENT,
            "idempotency_key": f"bench-{tag}-{i}:{now.isoformat()}",
            "message_id": _wamid(i, tag),
            "text": "Hi!",
            "attempts": 1,
            "decided_at": now,
            "created_at": now,
        }
        for i in range(count)
    ]
    engine = create_engine(stack.database_url)
    try:
        async with engine.begin() as connection:
            for start in range(0, len(rows), 1_000):
                await connection.execute(insert(ReminderRow), rows[start : start + 1_000])
    finally:
        await engine.dispose()


async def count_delivered(stack: Stack, account: BenchAccount) -> int:
    engine = create_engine(stack.database_url)
    try:
        async with engine.connect() as connection:
            counted = await connection.scalar(
                select(func.count()).where(
                    ReminderRow.account_id == account.account_id,
                    ReminderRow.delivery_status == DeliveryStatus.DELIVERED,
                )
            )
    finally:
        await engine.dispose()
    return int(counted or 0)


async def post(stack: Stack, body: bytes) -> tuple[int, dict[str, Any], float]:
    started = time.perf_counter()
    response = await stack.http.post(
        "/webhooks/whatsapp",
        content=body,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(APP_SECRET.encode(), body),
        },
        timeout=GIVE_UP_AFTER,
    )
    elapsed = time.perf_counter() - started
    answer = response.json() if response.status_code == 200 else {"detail": response.text[:200]}
    return response.status_code, answer, elapsed


async def until_running(stack: Stack, account_id: str, count: int, started: float) -> float:
    """Seconds from ``started`` until ``count`` sessions of the account exist."""
    query = f'AccountId = "{account_id}"'
    while time.perf_counter() - started < GIVE_UP_AFTER:
        if (await stack.client.count_workflows(query)).count >= count:
            return time.perf_counter() - started
        await asyncio.sleep(0.5)
    return float("nan")


async def statuses_shape(stack: Stack, shape: str, index: int, *, limit: int) -> dict[str, Any]:
    """A status-only POST: about sent reminders, or about messages that are none."""
    (account,) = await stack.add_accounts(1, enabled=True, expiry_hours=23, prefix=f"post{index}")
    ours = shape == "reminder statuses"
    sent_at = int(utc_now().timestamp())

    def build(n: int) -> bytes:
        return status_body(account, n, tag=index, callback_data=ours, sent_at=sent_at)

    count, body = largest(build, limit)
    if ours:
        await insert_sent_reminders(stack, account, count, index)
    await stack.settle()
    before = stack.cpu()
    status, answer, answered = await post(stack, body)
    print(f"  {shape}: {count:,} statuses, answered {status} in {answered:.2f} s", flush=True)
    delivered = await count_delivered(stack, account) if ours else 0
    await stack.settle()
    return {
        "shape": shape,
        "bytes": len(body),
        "messages": count,
        "conversations": 0,
        "status": status,
        "answered_s": round(answered, 3),
        "all_running_s": None,
        "delivered": delivered,
        "answer": answer,
        "cpu_ms_per_message": cpu_per(stack.cpu().minus(before), count),
    }


async def one_shape(stack: Stack, shape: str, index: int, *, limit: int) -> dict[str, Any]:
    if shape.endswith("statuses"):
        return await statuses_shape(stack, shape, index, limit=limit)
    (account,) = await stack.add_accounts(1, enabled=True, expiry_hours=23, prefix=f"post{index}")
    population = Population([account], next_number=10_000_000 * (index + 1))
    if shape == "one conversation":
        number = population.new_number()

        def make(n: int) -> list[Message]:
            return [population.message(number) for _ in range(n)]

        conversations = 1
    else:
        first = population.size

        def make(n: int) -> list[Message]:
            return [population.message(first + i) for i in range(n)]

    count, body = largest(lambda n: webhook_body(make(n)), limit)
    if shape != "one conversation":
        conversations = count
    await stack.settle()
    before = stack.cpu()
    started = time.perf_counter()
    status, answer, answered = await post(stack, body)
    print(f"  {shape}: {count:,} messages, answered {status} in {answered:.2f} s", flush=True)
    running = await until_running(stack, account.account_id, conversations, started)
    await stack.settle()
    return {
        "shape": shape,
        "bytes": len(body),
        "messages": count,
        "conversations": conversations,
        "status": status,
        "answered_s": round(answered, 3),
        "all_running_s": round(running, 3),
        "answer": answer,
        "cpu_ms_per_message": cpu_per(stack.cpu().minus(before), count),
    }


async def main_async() -> None:
    options = parser(__doc__ or "")
    options.add_argument(
        "--shapes", default=",".join(SHAPES), help=f"comma-separated, of: {', '.join(SHAPES)}"
    )
    args = options.parse_args()
    shapes = [shape.strip() for shape in args.shapes.split(",")]
    if unknown := set(shapes) - set(SHAPES):
        options.error(f"unknown shape(s): {', '.join(sorted(unknown))}")
    # --quick: a tenth of the largest body, for a smoke run.
    limit = MAX_WEBHOOK_BYTES // 10 if args.quick else MAX_WEBHOOK_BYTES
    rows = []
    async with open_stack(worker_processes=args.worker_processes, database=args.database) as stack:
        for shape in shapes:
            index = SHAPES.index(shape)
            row = await one_shape(stack, shape, index, limit=limit)
            print(f"  {row}", flush=True)
            rows.append(row)
    print(
        table(
            f"One webhook POST of {limit:,} bytes at most ({args.database})",
            ["shape", "bytes", "items", "conversations", "status", "answer s", "running s"],
            [
                [
                    r["shape"],
                    r["bytes"],
                    r["messages"],
                    r["conversations"],
                    r["status"],
                    r["answered_s"],
                    "-" if r["all_running_s"] is None else r["all_running_s"],
                ]
                for r in rows
            ],
        )
    )
    path = save(
        "webhook_post",
        {"quick": args.quick, "database": args.database, "limit": limit, "rows": rows},
        results_dir=args.results_dir,
    )
    print(f"saved to {path}")


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
