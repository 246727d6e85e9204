"""The webhook hand-over workflow, run by the real worker: every conversation of its batch gets
its signal-with-start, on the conversations' own task queue."""

from __future__ import annotations

from core import temporal_names as names
from core.contract import CustomerMessage, HandOverBatch, HandOverItem
from core.temporal import start_hand_over
from tests.support import store_sender
from tests.workflows.harness import ACCOUNT, Conversation


async def test_the_hand_over_starts_every_session_of_its_batch(conv: Conversation) -> None:
    now = await conv.now()
    numbers = ["15550001111", "15550002222"]
    for number in numbers:  # the API stores the contacts before it leaves the signals
        await store_sender(
            conv.store, account_id=ACCOUNT, wa_id=number, conversation_key=conv.key(number)
        )
    batch = HandOverBatch(
        items=[
            HandOverItem(
                account_id=ACCOUNT,
                conversation_key=conv.key(number),
                message=CustomerMessage(
                    message_id=f"wamid.{number}",
                    sent_at=now,
                    received_at=now,
                    earlier_message_ids=[f"wamid.{number}.older"],
                ),
            )
            for number in numbers
        ]
    )
    workflow_id = f"{names.HAND_OVER_ID_PREFIX}:test"
    assert await start_hand_over(
        conv.env.client, task_queue=conv.task_queue, workflow_id=workflow_id, batch=batch
    )
    # The same batch again (a redelivered POST): already in Temporal's hands.
    assert not await start_hand_over(
        conv.env.client, task_queue=conv.task_queue, workflow_id=workflow_id, batch=batch
    )
    done = await conv.env.client.get_workflow_handle(workflow_id, result_type=int).result()
    assert done == 2
    for number in numbers:
        conv.started.add(conv.workflow_id(number))
        session = await conv.session(number)
        assert session.message_count == 2
        assert session.last_customer_message_at == now
