"""Handing one parsed webhook to Temporal and the store (docs/sessions.md, docs/sending.md).

Every conversation with customer messages in the POST gets one ``customer_message``
signal-with-start: its newest message (by Meta's timestamp, ties by webhook order), carrying the
ids of the older ones. They cannot move T further — T is the latest customer message, and all
of one POST share their ``received_at`` — so signalling them one by one would only cost an RPC
and a history event each (10,000 messages to one conversation took 34 s; docs/sessions.md).

The contact is resolved once per conversation, with the newest profile name; customers this
process never saw are inserted together, a few hundred rows per statement. The first
``INLINE_CONVERSATIONS`` conversations are signalled here, concurrently, bounded by a
semaphore; the rest of a large POST is left to hand-over workflows (a few start calls), so the
answer goes out within Meta's timeout whatever the POST holds
(docs/sessions.md#a-large-webhook-post).

A customer's short text may be an opt-out or opt-in keyword of the account's settings
(``core.reach``): per conversation, the newest message that is one decides, and is written to
the contact (``Contacts.set_opted_out``, as of the message's own timestamp, so redeliveries out
of order end as the customer meant) after its key is known and before its signal goes out. It
is in addition to the signal, never instead: the keyword message moves T like any other. The
keywords are read only for accounts with a short text in the POST, and cached for a few seconds
(``IngestCache``); a POST of images, long texts or reactions costs nothing more.

Statuses are applied after the messages, each account's in webhook order, a few hundred per
write transaction (``store.reminders.Reminders.apply_statuses``): one each, a 3 MiB POST of
statuses took 22 s.

If anything cannot be handed over, ``ServiceUnavailable`` is raised after all conversations were
tried, the route answers 503 and Meta retries the whole POST. That is safe: contacts are upserts,
the workflow drops message ids it has already seen, and delivery states only move forward.

Logs carry the conversation key, never the customer's number.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.client import Client

from api.errors import temporal_call
from api.ingest_cache import IngestCache, Keywords
from api.metrics import Metrics
from core.config import Settings
from core.contract import (
    MAX_EARLIER_MESSAGE_IDS,
    ConversationInput,
    CustomerMessage,
    HandOverBatch,
    HandOverItem,
)
from core.conversation_key import new_conversation_key
from core.identity import CustomerIdentity
from core.temporal import start_conversation, start_hand_over
from core.temporal_names import HAND_OVER_ID_PREFIX
from core.window import window_closes_at
from store.contacts import NewSender
from store.errors import AccountNotFound
from store.records import Account
from store.reminders import StatusWebhook
from store.repository import Store
from whatsapp.webhook import IgnoredKind, InboundMessage, StatusUpdate, WebhookBatch

logger = logging.getLogger(__name__)

# Conversations handed over at the same time by one webhook POST.
MAX_CONCURRENT_CONVERSATIONS = 32
# Conversations of one POST signalled before the answer; the rest go to hand-over workflows.
# At the ≈ 150 new sessions per second the 2-core bench machine manages, under half a second
# (BENCHMARKS.md); a POST of so few conversations (nearly all of them) needs no hand-over hop.
INLINE_CONVERSATIONS = 64
# Serialized size of one hand-over workflow's input, well below Temporal's 2 MB per payload.
MAX_HAND_OVER_BYTES = 256 * 1024


@dataclass(frozen=True)
class _OptChange:
    """What a keyword message asks of its contact, as of the message's timestamp."""

    opted_out: bool
    at: datetime


@dataclass
class _Conversation:
    account: Account
    identity: CustomerIdentity
    messages: list[InboundMessage] = field(default_factory=list)
    key: str | None = None
    # The messages short enough to be a keyword, in webhook order: only these are compared.
    short_texts: list[InboundMessage] = field(default_factory=list)
    opt_change: _OptChange | None = None

    @property
    def profile_name(self) -> str | None:
        """The newest profile name the POST gives."""
        names = [m.profile_name for m in self.messages if m.profile_name]
        return names[-1] if names else None


@dataclass(frozen=True)
class IngestResult:
    messages: int
    statuses: int
    conversations: int
    unknown_account_items: int
    expired_messages: int


class WebhookIngest:
    """Hands one webhook's items to Temporal and the store; build one per request."""

    def __init__(
        self,
        *,
        store: Store,
        temporal: Client,
        settings: Settings,
        metrics: Metrics,
        clock: Callable[[], datetime],
        cache: IngestCache | None = None,
    ) -> None:
        self._store = store
        self._temporal = temporal
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._cache = cache or IngestCache()
        self._accounts: dict[str, Account | None] = {}

    async def handle(self, batch: WebhookBatch) -> IngestResult:
        """Signal every customer message and apply every status; raise if any could not be."""
        received_at = self._clock()
        for item in batch.ignored:
            self._metrics.webhook_items.labels(
                "invalid" if item.kind is IgnoredKind.INVALID else "ignored"
            ).inc()
        current, expired = _split_expired(batch.customer_messages, received_at=received_at)
        self._metrics.webhook_items.labels("expired").inc(expired)
        conversations, unknown_messages = await self._group(current)
        await self._find_opt_changes(conversations)
        await self._insert_new_contacts(conversations)
        inline = conversations[:INLINE_CONVERSATIONS]
        later = conversations[INLINE_CONVERSATIONS:]
        await _all_or_raise(
            [self._hand_over(c, received_at) for c in inline]
            + [self._prepare(c) for c in later if c.key is None or c.opt_change is not None],
            limit=MAX_CONCURRENT_CONVERSATIONS,
        )
        if later:
            await self._leave_to_temporal(later, received_at)
        unknown_statuses = await self._apply_statuses(batch.statuses)
        unknown = unknown_messages + unknown_statuses
        self._metrics.webhook_items.labels("unknown_account").inc(unknown)
        return IngestResult(
            messages=len(batch.customer_messages),
            statuses=len(batch.statuses),
            conversations=len(conversations),
            unknown_account_items=unknown,
            expired_messages=expired,
        )

    async def _account(self, phone_number_id: str) -> Account | None:
        if phone_number_id not in self._accounts:
            account = self._cache.account(phone_number_id)
            if account is None:
                account = await self._store.accounts.by_phone_number_id(
                    phone_number_id=phone_number_id
                )
                if account is not None:
                    self._cache.remember_account(account)
            if account is None:
                # Meta's id of the business number (not a person's number): what an operator
                # needs to find the missing account.
                logger.warning("webhook for unknown phone_number_id %r: skipped", phone_number_id)
            self._accounts[phone_number_id] = account
        return self._accounts[phone_number_id]

    async def _group(self, messages: Sequence[InboundMessage]) -> tuple[list[_Conversation], int]:
        """Messages by customer, each in webhook order; and how many had no account.

        Items naming one customer differently (by number in one, by number and BSUID in the
        next) share any identifier, and so one conversation.
        """
        conversations: list[_Conversation] = []
        by_name: dict[tuple[str, str], _Conversation] = {}
        unknown = 0
        for message in messages:
            account = await self._account(message.phone_number_id)
            if account is None:
                unknown += 1
                continue
            self._metrics.webhook_items.labels("message").inc()
            identity = message.identity
            names = [(account.account_id, label) for label in identity.labels]
            conversation = next((by_name[name] for name in names if name in by_name), None)
            if conversation is None:
                conversation = _Conversation(account=account, identity=identity)
                conversations.append(conversation)
            conversation.identity = conversation.identity.merged(identity)
            conversation.messages.append(message)
            if message.keyword_text is not None:
                conversation.short_texts.append(message)
            for label in conversation.identity.labels:
                by_name.setdefault((account.account_id, label), conversation)
        return conversations, unknown

    async def _find_opt_changes(self, conversations: Sequence[_Conversation]) -> None:
        """Each conversation's opt-out or opt-in, if a message of the POST is a keyword: the
        newest such (by Meta's timestamp, ties by webhook order) decides."""
        for conversation in conversations:
            if not conversation.short_texts:
                continue
            keywords = await self._keywords(conversation.account.account_id)
            matches = [
                (message.sent_at, index, opted_out)
                for index, message in enumerate(conversation.short_texts)
                if message.keyword_text is not None
                and (opted_out := keywords.opts_out(message.keyword_text)) is not None
            ]
            if matches:
                at, _, opted_out = max(matches)  # indexes differ: never compares the flags
                conversation.opt_change = _OptChange(opted_out=opted_out, at=at)

    async def _keywords(self, account_id: str) -> Keywords:
        keywords = self._cache.keywords(account_id)
        if keywords is None:
            try:
                settings = await self._store.settings.get(account_id=account_id)
            except AccountNotFound:
                # Deleted since its number was looked up: there is no contact to opt out.
                return Keywords.of((), ())
            keywords = Keywords.of(settings.opt_out_keywords, settings.opt_in_keywords)
            self._cache.remember_keywords(account_id, keywords)
        return keywords

    async def _insert_new_contacts(self, conversations: Sequence[_Conversation]) -> None:
        """Insert the customers this process never saw, together: one write transaction per
        few hundred instead of one each (10,000 new customers took 44 s one by one on SQLite).
        A customer one of whose identifiers turns out taken is resolved one by one later."""
        new: list[tuple[_Conversation, NewSender]] = []
        for conversation in conversations:
            account_id = conversation.account.account_id
            identity = conversation.identity
            if identity.parent_user_id is not None or self._cache.knows(account_id, identity):
                continue  # resolve_sender's own paths are the right ones for these
            key = new_conversation_key(
                secret=self._settings.conversation_key_secret.get_secret_value(),
                account_id=account_id,
                identity=identity,
            )
            sender = NewSender(account_id, identity, key, conversation.profile_name)
            new.append((conversation, sender))
        if len(new) < 2:
            return  # one new customer: resolve_sender inserts it first anyway
        created = await self._store.contacts.insert_new([sender for _, sender in new])
        for conversation, sender in new:
            contact = created.get(sender.key)
            if contact is not None:
                self._cache.remember_contact(contact)
                conversation.key = contact.conversation_key

    async def _resolve(self, conversation: _Conversation) -> None:
        if conversation.key is None:
            conversation.key = await self._conversation_key(conversation)

    async def _prepare(self, conversation: _Conversation) -> None:
        """Everything that must be stored before the conversation is signalled: its contact,
        and the opt-out or opt-in its keyword message asks for."""
        await self._resolve(conversation)
        change = conversation.opt_change
        if change is None:
            return
        assert conversation.key is not None  # resolved just above
        await self._store.contacts.set_opted_out(
            account_id=conversation.account.account_id,
            conversation_key=conversation.key,
            opted_out=change.opted_out,
            at=change.at,
        )
        self._metrics.opt_keywords.labels("opt_out" if change.opted_out else "opt_in").inc()
        logger.info(
            "conversation %s %s by keyword",
            conversation.key,
            "opted out" if change.opted_out else "opted in",
        )

    async def _leave_to_temporal(
        self, conversations: Sequence[_Conversation], received_at: datetime
    ) -> None:
        """Start hand-over workflows for these conversations' signals, a few hundred KB of
        input each. A workflow's id hashes its items' message ids, so a redelivered POST finds
        its batches already started."""
        batches: list[list[HandOverItem]] = [[]]
        size = 0
        for conversation in conversations:
            assert conversation.key is not None  # resolved by handle()
            item = HandOverItem(
                account_id=conversation.account.account_id,
                conversation_key=conversation.key,
                message=_folded(conversation.messages, received_at=received_at),
            )
            # An upper estimate of its JSON (two timestamps, field names, quoting), unencoded.
            ids = (item.message.message_id, *item.message.earlier_message_ids)
            item_size = 256 + len(item.conversation_key) + sum(len(i) + 3 for i in ids)
            if batches[-1] and size + item_size > MAX_HAND_OVER_BYTES:
                batches.append([])
                size = 0
            batches[-1].append(item)
            size += item_size

        async def start(items: list[HandOverItem]) -> None:
            digest = hashlib.sha256()
            for item in items:
                digest.update(f"{item.account_id}:{item.message.message_id}\n".encode())
            with temporal_call():
                await start_hand_over(
                    self._temporal,
                    task_queue=self._settings.temporal_task_queue,
                    workflow_id=f"{HAND_OVER_ID_PREFIX}:{digest.hexdigest()[:32]}",
                    batch=HandOverBatch(items=items),
                )

        # Together: each start writes its input (≈ 256 KB) to the server's history; one after
        # another, a 3 MiB POST's dozen starts took seconds.
        await _all_or_raise([start(items) for items in batches], limit=MAX_CONCURRENT_CONVERSATIONS)
        logger.info(
            "%d conversation(s) left to %d hand-over workflow(s)", len(conversations), len(batches)
        )

    async def _conversation_key(self, conversation: _Conversation) -> str:
        """The customer's conversation key: their stored contact's, created or completed first
        (it must exist before the workflow's first reminder looks it up)."""
        account_id = conversation.account.account_id
        identity = conversation.identity
        profile_name = conversation.profile_name  # the newest wins
        key = self._cache.conversation_key(account_id, identity, profile_name)
        if key is not None:
            return key
        contact = await self._store.contacts.resolve_sender(
            account_id=account_id,
            identity=identity,
            new_key=new_conversation_key(
                secret=self._settings.conversation_key_secret.get_secret_value(),
                account_id=account_id,
                identity=identity,
            ),
            profile_name=profile_name,
            # Never seen by this process: most often a customer writing for the first time.
            likely_new=not self._cache.knows(account_id, identity),
        )
        self._cache.remember_contact(contact)
        return contact.conversation_key

    async def _hand_over(self, conversation: _Conversation, received_at: datetime) -> None:
        account_id = conversation.account.account_id
        await self._prepare(conversation)
        key = conversation.key
        assert key is not None
        conversation_input = ConversationInput(account_id=account_id, conversation_key=key)
        with temporal_call():
            await start_conversation(
                self._temporal,
                task_queue=self._settings.temporal_task_queue,
                conversation=conversation_input,
                message=_folded(conversation.messages, received_at=received_at),
            )
        self._metrics.signals.labels("customer_message").inc()
        logger.debug("signalled %d message(s) to conversation %s", len(conversation.messages), key)

    async def _apply_statuses(self, statuses: Sequence[StatusUpdate]) -> int:
        """Apply statuses, each account's in webhook order, a few hundred per write transaction
        (``Reminders.apply_statuses``); returns how many had no account."""
        unknown = 0
        by_account: dict[str, list[StatusUpdate]] = {}
        for update in statuses:
            account = await self._account(update.phone_number_id)
            if account is None:
                unknown += 1
                continue
            self._metrics.webhook_items.labels("status").inc()
            by_account.setdefault(account.account_id, []).append(update)
        for account_id, updates in by_account.items():
            records = await self._store.reminders.apply_statuses(
                # Scoped to the account whose number received them: a body may name any wamid.
                account_id=account_id,
                statuses=[
                    StatusWebhook(
                        message_id=update.message_id,
                        reminder_id=update.callback_data,
                        status=update.status,
                        at=update.at,
                        error_code=update.error_code,
                        error_message=update.error_message,
                    )
                    for update in updates
                ],
            )
            for update, record in zip(updates, records, strict=True):
                # Statuses of messages that are no reminder (the business's own chats) are normal.
                outcome = "none" if record is None else record.outcome
                self._metrics.reminder_statuses.labels(update.status, outcome).inc()
        return unknown


def _folded(messages: Sequence[InboundMessage], *, received_at: datetime) -> CustomerMessage:
    """One conversation's messages of one POST as one signal: the newest (the last of the
    latest timestamp), with the ids of the others, as many as the workflow remembers."""
    newest = max(range(len(messages)), key=lambda i: (messages[i].sent_at, i))
    earlier = [m.message_id for i, m in enumerate(messages) if i != newest]
    # A redelivered id may appear twice in one POST; the newest's own id is not repeated.
    earlier = [i for i in dict.fromkeys(earlier) if i != messages[newest].message_id]
    return CustomerMessage(
        message_id=messages[newest].message_id,
        sent_at=messages[newest].sent_at,
        received_at=received_at,
        earlier_message_ids=earlier[-MAX_EARLIER_MESSAGE_IDS:],
    )


def _split_expired(
    messages: Sequence[InboundMessage], *, received_at: datetime
) -> tuple[list[InboundMessage], int]:
    """The messages that can still open or move a session, and how many cannot.

    A message whose own 24-hour window had already closed when it arrived can earn no reminder,
    and starting a session for it would only hide the conversation's real last session
    (docs/sessions.md#messages-older-than-24-hours): it is acknowledged and counted, nothing more.
    """
    current = [
        message
        for message in messages
        if window_closes_at(min(message.sent_at, received_at)) > received_at
    ]
    return current, len(messages) - len(current)


async def _all_or_raise(jobs: Sequence[Awaitable[None]], *, limit: int) -> None:
    """Run every job (at most ``limit`` at once); then re-raise the first failure, if any.

    Every job runs even when one fails, so one bad conversation does not hold back the others'
    messages until Meta's retry.
    """
    semaphore = asyncio.Semaphore(limit)

    async def bounded(job: Awaitable[None]) -> None:
        async with semaphore:
            await job

    results = await asyncio.gather(*(bounded(job) for job in jobs), return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    for failure in failures:
        if not isinstance(failure, Exception):
            raise failure  # cancellation and the like are not ours to translate
    if failures:
        if len(failures) > 1:
            logger.warning(
                "%d of %d conversations could not be handed over (%s)",
                len(failures),
                len(jobs),
                ", ".join(sorted({type(f).__name__ for f in failures})),
            )
        raise failures[0]
