"""A conversation under test: time-skipping Temporal, the real activities, SQLite, stand-in Graph.

Each test gets its own database file, task queue and business number, so tests sharing the
session-wide test server and sandbox never see each other's sessions or messages.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.conversation import ConversationActivities
from core.contract import ConversationInput, CustomerMessage, SessionSnapshot, SettingsChanged
from core.conversation_key import conversation_key
from core.reach import SETTINGS_FIELDS
from core.temporal import start_conversation
from core.temporal_names import conversation_workflow_id
from core.vocabulary import DeliveryStatus
from store.db import create_engine, create_sessionmaker
from store.migrate import migrate
from store.records import ReminderRecord
from store.repository import Store
from tests.support import store_sender
from whatsapp.client import CloudApiClient
from worker import build_worker
from workflows.conversation import ConversationWorkflow

ACCOUNT = "acme"
KEY_SECRET = "test-secret"
MESSAGE = "Hi {contact_firstname} {contact_lastname}, {company_name} here. Still there?"


@dataclass
class Conversation:
    """One test's world: its store, its workflow handles and the sandbox outbox."""

    env: WorkflowEnvironment
    store: Store
    sandbox: httpx.AsyncClient
    task_queue: str
    phone_number_id: str
    activities: ConversationActivities
    max_history_events: int = 10_000
    started: set[str] = field(default_factory=set)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def sleep(self, duration: timedelta) -> None:
        """Move the test server's clock (timers fire, activities run)."""
        await self.env.sleep(duration)

    def workflow_id(self, wa_id: str) -> str:
        return conversation_workflow_id(account_id=ACCOUNT, conversation_key=self.key(wa_id))

    def key(self, wa_id: str) -> str:
        return conversation_key(secret=KEY_SECRET, account_id=ACCOUNT, wa_id=wa_id)

    async def customer_writes(
        self,
        wa_id: str = "15550001111",
        *,
        ago: timedelta = timedelta(0),
        message_id: str | None = None,
        profile_name: str | None = "John Smith",
        earlier_message_ids: list[str] | None = None,
    ) -> WorkflowHandle[Any, SessionSnapshot]:
        """What the webhook does for one customer message: store the contact, signal-with-start."""
        now = await self.now()
        await store_sender(
            self.store,
            account_id=ACCOUNT,
            wa_id=wa_id,
            conversation_key=self.key(wa_id),
            profile_name=profile_name,
        )
        message = CustomerMessage(
            message_id=message_id or f"wamid.{uuid.uuid4().hex}",
            sent_at=now - ago,
            received_at=now,
            earlier_message_ids=earlier_message_ids or [],
        )
        self.started.add(self.workflow_id(wa_id))
        return await start_conversation(
            self.env.client,
            task_queue=self.task_queue,
            conversation=ConversationInput(
                account_id=ACCOUNT,
                conversation_key=self.key(wa_id),
                max_history_events=self.max_history_events,
            ),
            message=message,
        )

    async def save_settings(self, *, signal: bool = True, **changes: Any) -> None:
        """Change the settings in the database and (like the API) tell the waiting sessions."""
        current = await self.store.settings.get(account_id=ACCOUNT)
        await self.store.settings.save(
            account_id=ACCOUNT,
            changed_by="test",
            **{name: changes.get(name, getattr(current, name)) for name in SETTINGS_FIELDS},
        )
        if signal:
            for wa_id in ("15550001111", "15550002222"):
                handle = self.env.client.get_workflow_handle(self.workflow_id(wa_id))
                try:
                    await handle.signal(
                        ConversationWorkflow.settings_changed,
                        SettingsChanged(),
                    )
                except Exception:  # noqa: BLE001 - that conversation is not running in this test
                    pass

    async def signal_settings(self, wa_id: str = "15550001111") -> None:
        """What settings propagation does for one session (``settings_changed``, no version)."""
        handle = self.env.client.get_workflow_handle_for(
            ConversationWorkflow.run, self.workflow_id(wa_id)
        )
        await handle.signal(ConversationWorkflow.settings_changed, SettingsChanged())

    async def session(self, wa_id: str = "15550001111") -> SessionSnapshot:
        handle = self.env.client.get_workflow_handle_for(
            ConversationWorkflow.run, self.workflow_id(wa_id)
        )
        return await handle.query(ConversationWorkflow.session)

    async def outbox(self) -> list[dict[str, Any]]:
        """Messages the stand-in Graph API accepted for this test's business number."""
        response = await self.sandbox.get(
            "/_sandbox/messages", params={"phone_number_id": self.phone_number_id}
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def fail_next_sends(self, **failure: Any) -> None:
        response = await self.sandbox.post("/_sandbox/failures", json=failure)
        response.raise_for_status()

    async def status_arrives(
        self, reminder_id: str, *, message_id: str, status: DeliveryStatus = DeliveryStatus.SENT
    ) -> None:
        """What the API does with Meta's status webhook for one of our messages."""
        await self.store.reminders.apply_status(
            account_id=ACCOUNT,
            message_id=message_id,
            reminder_id=reminder_id,
            status=status,
            at=await self.now(),
            error_code=None,
            error_message=None,
        )

    async def reminders(self) -> list[ReminderRecord]:
        page = await self.store.reminders.page(account_id=ACCOUNT, limit=100)
        return list(page.items)


async def _shifted(env: WorkflowEnvironment, offset: timedelta) -> datetime:
    """The test server's clock as a worker whose own clock is off by ``offset`` reads it."""
    return await env.get_current_time() + offset


@asynccontextmanager
async def conversation(
    env: WorkflowEnvironment,
    *,
    sandbox_url: str,
    database_dir: Path,
    enabled: bool = True,
    expiry_hours: int = 2,
    message: str = MESSAGE,
    max_history_events: int = 10_000,
    whatsapp_timeout: float = 5.0,
    clock_offset: timedelta = timedelta(0),
    sandboxed: bool = True,
) -> AsyncIterator[Conversation]:
    """A migrated SQLite store with one account, a worker, and the sandbox as Graph API.

    The worker runs the workflow inside the SDK's sandbox (so a non-deterministic call fails
    the tests) unless ``sandboxed`` is False, as the production worker does by default.
    """
    database_url = f"sqlite+aiosqlite:///{database_dir / 'sessions.db'}"
    await migrate(database_url)
    engine = create_engine(database_url)
    store = Store(create_sessionmaker(engine))
    phone_number_id = str(uuid.uuid4().int)[:15]
    await store.accounts.upsert(
        account_id=ACCOUNT,
        company_name="Acme Inc.",
        phone_number_id=phone_number_id,
        access_token="sandbox-token",
    )
    await store.settings.save(
        account_id=ACCOUNT,
        enabled=enabled,
        expiry_hours=expiry_hours,
        message=message,
        changed_by="test",
    )
    task_queue = f"tq-{uuid.uuid4()}"
    async with (
        httpx.AsyncClient(timeout=whatsapp_timeout) as http,
        httpx.AsyncClient(base_url=sandbox_url) as sandbox,
    ):
        activities = ConversationActivities(
            store=store,
            whatsapp=CloudApiClient(http, base_url=sandbox_url, api_version="v26.0"),
            clock=lambda: _shifted(env, clock_offset),
        )
        world = Conversation(
            env=env,
            store=store,
            sandbox=sandbox,
            task_queue=task_queue,
            phone_number_id=phone_number_id,
            activities=activities,
            max_history_events=max_history_events,
        )
        async with build_worker(
            env.client, task_queue=task_queue, activities=activities, sandboxed=sandboxed
        ):
            try:
                yield world
            finally:
                await sandbox.delete("/_sandbox/failures")
                # The test server is shared and its clock global: leave no run behind.
                for workflow_id in world.started:
                    with contextlib.suppress(RPCError):
                        await env.client.get_workflow_handle(workflow_id).terminate("test over")
    await engine.dispose()
