"""The sandbox reports accepted messages like Meta: signed status webhooks, parsed by our own
parser, delayed or lost on demand. A receiving app on loopback plays the service's webhook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from tests.support import eventually, serve
from whatsapp.client import CloudApiClient
from whatsapp.errors import AmbiguousSendError
from whatsapp.sandbox import StatusWebhooks, create_sandbox_app
from whatsapp.signature import SIGNATURE_HEADER, verify_signature
from whatsapp.webhook import StatusUpdate, parse_webhook

SECRET = b"status-secret"
TOKEN = "sandbox-token"


@dataclass
class Receiver:
    """A stand-in for the service's webhook: verifies, parses, remembers; can refuse at first."""

    statuses: list[StatusUpdate] = field(default_factory=list)
    refuse_first: int = 0
    calls: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhooks/whatsapp")
        async def receive(request: Request) -> Response:
            self.calls += 1
            raw = await request.body()
            if self.calls <= self.refuse_first:
                return Response(status_code=503)
            assert verify_signature(
                app_secret=SECRET, raw_body=raw, header=request.headers.get(SIGNATURE_HEADER)
            )
            self.statuses += parse_webhook(raw).statuses
            return Response(status_code=200)

        return app


@dataclass
class World:
    receiver: Receiver
    control: httpx.AsyncClient
    client: CloudApiClient

    async def send(self, callback: str = "reminder-1") -> str:
        sent = await self.client.send_text(
            phone_number_id="1001",
            access_token=TOKEN,
            to="15551234567",
            body="Hi!",
            callback_data=callback,
        )
        return sent.message_id

    async def statuses(self) -> list[StatusUpdate]:
        return list(self.receiver.statuses)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    receiver = Receiver()
    async with serve(receiver.app()) as receiver_url:
        sandbox = create_sandbox_app(
            access_tokens={TOKEN},
            status_webhooks=StatusWebhooks(
                url=f"{receiver_url}/webhooks/whatsapp", app_secret=SECRET, delay=0.05, step=0.05
            ),
        )
        async with serve(sandbox) as sandbox_url, httpx.AsyncClient(base_url=sandbox_url) as http:
            yield World(
                receiver=receiver,
                control=http,
                client=CloudApiClient(http, base_url=sandbox_url, api_version="v26.0"),
            )


async def test_every_accepted_message_is_reported_sent_delivered_read(world: World) -> None:
    message_id = await world.send("reminder-7")
    statuses = await eventually(world.statuses, lambda s: len(s) == 3)
    assert [s.status for s in statuses] == ["sent", "delivered", "read"]
    assert {(s.message_id, s.callback_data, s.phone_number_id) for s in statuses} == {
        (message_id, "reminder-7", "1001")
    }
    posted = (await world.control.get("/_sandbox/statuses")).json()["items"]
    assert [p["answered"] for p in posted] == [200, 200, 200]


async def test_a_message_sent_to_a_bsuid_is_reported_by_bsuid(world: World) -> None:
    sent = await world.client.send_text(
        phone_number_id="1001",
        access_token=TOKEN,
        recipient="US.13491208655302741918",
        body="Hi!",
        callback_data="reminder-8",
    )
    statuses = await eventually(world.statuses, lambda s: len(s) == 3)
    assert {(s.message_id, s.recipient_id, s.recipient_user_id) for s in statuses} == {
        (sent.message_id, None, "US.13491208655302741918")
    }


async def test_an_accepted_then_failed_send_is_reported_too(world: World) -> None:
    await world.control.post("/_sandbox/failures", json={"kind": "accept_then_fail"})
    with pytest.raises(AmbiguousSendError):
        await world.send("reminder-8")
    statuses = await eventually(world.statuses, lambda s: len(s) == 3)
    assert {s.callback_data for s in statuses} == {"reminder-8"}  # the proof the service needs


async def test_a_webhook_that_does_not_answer_200_is_tried_again(world: World) -> None:
    world.receiver.refuse_first = 1
    await world.send()
    statuses = await eventually(world.statuses, lambda s: len(s) == 3, timeout=10)
    assert [s.status for s in statuses] == ["sent", "delivered", "read"]


async def test_statuses_can_be_lost(world: World) -> None:
    response = await world.control.post("/_sandbox/status-faults", json={"mode": "lost"})
    assert response.status_code == 201
    await world.send("lost")
    await world.send("kept")
    await eventually(world.statuses, lambda s: len(s) == 3)
    await asyncio.sleep(0.3)
    assert {s.callback_data for s in await world.statuses()} == {"kept"}


async def test_a_message_can_stay_unread(world: World) -> None:
    response = await world.control.post(
        "/_sandbox/status-faults", json={"mode": "unread", "times": 1}
    )
    assert response.status_code == 201
    await world.send("unread")
    await world.send("read")
    statuses = await eventually(world.statuses, lambda s: len(s) == 5)
    await asyncio.sleep(0.3)
    by_message = {
        callback: [s.status for s in await world.statuses() if s.callback_data == callback]
        for callback in ("unread", "read")
    }
    assert by_message == {"unread": ["sent", "delivered"], "read": ["sent", "delivered", "read"]}
    assert len(statuses) == 5


async def test_statuses_can_be_late(world: World) -> None:
    await world.control.post("/_sandbox/status-faults", json={"mode": "delayed", "seconds": 0.8})
    await world.send("late")
    await asyncio.sleep(0.5)
    assert await world.statuses() == []
    statuses = await eventually(world.statuses, lambda s: len(s) == 3, timeout=10)
    assert {s.callback_data for s in statuses} == {"late"}


async def test_a_malformed_status_fault_is_refused(world: World) -> None:
    response = await world.control.post("/_sandbox/status-faults", json={"mode": "sideways"})
    assert response.status_code == 422
