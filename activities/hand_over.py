"""The webhook hand-over activity: signal-with-start the conversations a large webhook POST
left to Temporal (docs/sessions.md#a-large-webhook-post).

The API answers Meta within its timeout by signalling only the first conversations of a POST
itself; the rest it leaves, durably, to a hand-over workflow whose one activity is this. Each
item is the API's own call (``core.temporal.start_conversation``), a bounded number at a time
across every batch the worker runs at once (one semaphore per worker), so that a dozen batches
of one large POST cannot flood the server with hundreds of calls.
Progress is heartbeated, so a retried attempt resumes where the last one stopped; an item
signalled twice is harmless (the workflow drops a message id it has seen).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from temporalio import activity

from core.contract import ConversationInput, HandOverBatch, HandOverItem
from core.temporal import start_conversation

if TYPE_CHECKING:
    from temporalio.client import Client

# Signals in flight at once per worker, over all batches; the API's bound too (api/ingest.py).
MAX_CONCURRENT_SIGNALS = 32


class HandOverActivities:
    """Signals a hand-over batch's conversations."""

    def __init__(self, *, temporal: Client) -> None:
        self._temporal = temporal
        # Created on first use: a semaphore belongs to the event loop the worker runs on.
        self._slots: asyncio.Semaphore | None = None

    @activity.defn
    async def hand_over(self, batch: HandOverBatch) -> int:
        """Signal-with-start every item from the last heartbeated one on; returns how many
        items the batch has. Raises (to be retried) when any of a round could not be."""
        info = activity.info()
        done = int(info.heartbeat_details[0]) if info.heartbeat_details else 0
        items = batch.items
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_CONCURRENT_SIGNALS)
        slots = self._slots

        async def signal(item: HandOverItem) -> None:
            async with slots:
                await start_conversation(
                    self._temporal,
                    # The conversation workflow polls the queue this activity runs on.
                    task_queue=info.task_queue,
                    conversation=ConversationInput(
                        account_id=item.account_id, conversation_key=item.conversation_key
                    ),
                    message=item.message,
                )

        while done < len(items):
            round_ = items[done : done + MAX_CONCURRENT_SIGNALS]
            await asyncio.gather(*(signal(item) for item in round_))
            done += len(round_)
            activity.heartbeat(done)
        return len(items)
