"""One webhook POST of the largest body Meta can send (3 MiB), and how long the answer takes.

Meta waits only a few seconds for a webhook's answer and redelivers the whole POST after a
timeout, so the work of one POST must fit in that time whatever it carries. Two shapes, each
filled up to ``MAX_WEBHOOK_BYTES`` in the shape of ``bench.load.webhook_body``:

- ``one conversation``: every message from one customer (one signal-with-start, folded);
- ``new conversations``: every message from a customer never seen (a contact and a session each).

For each: the answer's status and time, and then how long until every conversation of the POST
has a running session (a visibility count), which is when the hand-over is really done.

    python -m bench.webhook_post [--quick] [--database sqlite|postgres]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench.load import Message, Population, webhook_body
from bench.report import cpu_per, parser, save, table
from bench.stack import APP_SECRET, Stack, open_stack
from whatsapp.signature import SIGNATURE_HEADER, sign
from whatsapp.webhook import MAX_WEBHOOK_BYTES

# How long the bench waits for every session of a POST to be running.
GIVE_UP_AFTER = 900.0


def largest(make: Callable[[int], list[Message]], limit: int) -> tuple[int, bytes]:
    """The most messages ``make`` builds whose webhook body still fits in ``limit`` bytes."""
    probe = 200
    per_message = len(webhook_body(make(probe))) / probe
    count = int(limit / per_message)
    body = webhook_body(make(count))
    while len(body) > limit:
        count -= max(1, (len(body) - limit) // int(per_message) + 1)
        body = webhook_body(make(count))
    return count, body


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


async def one_shape(stack: Stack, shape: str, index: int, *, limit: int) -> dict[str, Any]:
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

    count, body = largest(make, limit)
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
    args = parser(__doc__ or "").parse_args()
    # --quick: a tenth of the largest body, for a smoke run.
    limit = MAX_WEBHOOK_BYTES // 10 if args.quick else MAX_WEBHOOK_BYTES
    rows = []
    async with open_stack(worker_processes=args.worker_processes, database=args.database) as stack:
        for index, shape in enumerate(("one conversation", "new conversations")):
            row = await one_shape(stack, shape, index, limit=limit)
            print(f"  {row}", flush=True)
            rows.append(row)
    print(
        table(
            f"One webhook POST of {limit:,} bytes at most ({args.database})",
            ["shape", "bytes", "messages", "conversations", "status", "answer s", "running s"],
            [
                [
                    r["shape"],
                    r["bytes"],
                    r["messages"],
                    r["conversations"],
                    r["status"],
                    r["answered_s"],
                    r["all_running_s"],
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
