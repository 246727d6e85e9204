"""Opting out and back in: by keyword message through the webhook, and through the contacts API;
on SQLite and PostgreSQL. Every test asserts what the store holds afterwards."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api import ingest
from api.ingest_cache import KEYWORDS_TTL, IngestCache, Keywords
from api.routes import sessions
from core import temporal_names as names
from core.conversation_key import conversation_key
from core.reach import MAX_KEYWORD_LENGTH
from core.vocabulary import DEFAULT_MESSAGE
from store.records import Contact, SessionSettingsRecord
from store.repository import Store
from tests.api.conftest import Seeded
from tests.api.support import KEY_SECRET, on_both_databases, post_webhook, webhook_of
from tests.support import contact_by_number

CUSTOMER = "15553827461"
OTHER = "15553827462"
BSUID = "US.13491208655302741918"
# Whole seconds, as Meta's timestamps are; an hour ago, well inside the window.
T = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


# Every test here runs on both databases.
postgres_database, database_url = on_both_databases("api_opt_out")


def _text(body: str, message_id: str, *, second: int = 0, sender: str = CUSTOMER) -> dict[str, Any]:
    return {
        "from": sender,
        "id": message_id,
        "timestamp": str(int(T.timestamp()) + second),
        "type": "text",
        "text": {"body": body},
    }


def _body(phone_number_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return webhook_of(phone_number_id, messages=messages)


async def _post(anon: httpx.AsyncClient, seeded: Seeded, *messages: dict[str, Any]) -> None:
    response = await post_webhook(anon, _body(seeded.phone_number_id, list(messages)))
    assert response.status_code == 200, response.text


async def _contact(store: Store, seeded: Seeded, wa_id: str = CUSTOMER) -> Contact:
    contact = await contact_by_number(store, account_id=seeded.account_id, wa_id=wa_id)
    assert contact is not None
    return contact


def _workflow_id(seeded: Seeded, wa_id: str = CUSTOMER) -> str:
    key = conversation_key(secret=KEY_SECRET, account_id=seeded.account_id, wa_id=wa_id)
    return names.conversation_workflow_id(account_id=seeded.account_id, conversation_key=key)


async def _signalled(client: Client, workflow_id: str) -> list[tuple[str, datetime]]:
    """Every signal's message id and ``sent_at`` (T), in history order."""
    signals = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            payloads = event.workflow_execution_signaled_event_attributes.input.payloads
            data = b"".join(p.data for p in payloads).lower()
            assert b"stop" not in data and b"keyword" not in data  # never the customer's words
            decoded = await client.data_converter.decode(payloads)
            signals.append(
                (decoded[0]["message_id"], datetime.fromisoformat(decoded[0]["sent_at"]))
            )
    return signals


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _keywords(
    store: Store, seeded: Seeded, opt_out: list[str], opt_in: list[str]
) -> SessionSettingsRecord:
    return await store.settings.save(
        account_id=seeded.account_id,
        enabled=False,
        expiry_hours=23,
        message=DEFAULT_MESSAGE,
        changed_by="test",
        opt_out_keywords=opt_out,
        opt_in_keywords=opt_in,
    )


# -- by keyword message ----------------------------------------------------------------------


@pytest.mark.parametrize("body", ["STOP", " stop ", "Stop\n", "sToP"])
async def test_stop_opts_out_and_still_signals(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store, ts_env: WorkflowEnvironment, body: str
) -> None:
    await _post(anon, seeded, _text(body, "wamid.OUT", second=10))
    contact = await _contact(store, seeded)
    assert contact.opted_out is True
    assert contact.opted_out_changed_at == T + timedelta(seconds=10)  # the message's own time
    # In addition to the signal, never instead: T moves to the keyword message.
    signals = await _signalled(ts_env.client, _workflow_id(seeded))
    assert signals == [("wamid.OUT", T + timedelta(seconds=10))]


@pytest.mark.parametrize("body", ["stop please", "STOP!", "S T O P", "START STOP"])
async def test_a_text_that_is_not_exactly_a_keyword_changes_nothing(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store, body: str
) -> None:
    await _post(anon, seeded, _text(body, "wamid.NOT"))
    contact = await _contact(store, seeded)
    assert (contact.opted_out, contact.opted_out_changed_at) == (False, None)


async def test_start_opts_back_in(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store, ts_env: WorkflowEnvironment
) -> None:
    await _post(anon, seeded, _text("STOP", "wamid.A", second=1))
    assert (await _contact(store, seeded)).opted_out is True
    await _post(anon, seeded, _text("start", "wamid.B", second=2))
    contact = await _contact(store, seeded)
    assert contact.opted_out is False
    assert contact.opted_out_changed_at == T + timedelta(seconds=2)
    assert [m for m, _ in await _signalled(ts_env.client, _workflow_id(seeded))] == [
        "wamid.A",
        "wamid.B",
    ]


async def test_a_custom_keyword_list_replaces_the_default(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    await _keywords(store, seeded, ["UNSUBSCRIBE", "Halt"], ["Subscribe"])
    await _post(anon, seeded, _text("STOP", "wamid.A", second=1))
    assert (await _contact(store, seeded)).opted_out is False  # the default is no keyword now
    await _post(anon, seeded, _text(" unsubscribe", "wamid.B", second=2))
    assert (await _contact(store, seeded)).opted_out is True
    await _post(anon, seeded, _text("START", "wamid.C", second=3))
    assert (await _contact(store, seeded)).opted_out is True
    await _post(anon, seeded, _text("SUBSCRIBE", "wamid.D", second=4))
    assert (await _contact(store, seeded)).opted_out is False
    await _post(anon, seeded, _text("HALT", "wamid.E", second=5))
    assert (await _contact(store, seeded)).opted_out is True


@pytest.mark.parametrize(
    ("stop_second", "start_second", "opted_out"),
    [(2, 1, True), (1, 2, False)],
    ids=["stop-newer", "start-newer"],
)
async def test_in_one_post_the_newer_keyword_wins_whatever_the_order(
    anon: httpx.AsyncClient,
    seeded: Seeded,
    store: Store,
    stop_second: int,
    start_second: int,
    opted_out: bool,
) -> None:
    # The newer one comes first in the POST: the timestamp decides, not the order.
    newer_first = sorted(
        [_text("STOP", "wamid.OUT", second=stop_second)]
        + [_text("START", "wamid.IN", second=start_second)]
        + [_text("thanks", "wamid.CHAT", second=3)],
        key=lambda m: -int(m["timestamp"]),
    )
    await _post(anon, seeded, *newer_first)
    contact = await _contact(store, seeded)
    assert contact.opted_out is opted_out
    assert contact.opted_out_changed_at == T + timedelta(seconds=max(stop_second, start_second))


async def test_a_start_redelivered_after_a_later_stop_changes_nothing(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store, ts_env: WorkflowEnvironment
) -> None:
    await _post(anon, seeded, _text("STOP", "wamid.OUT", second=20))
    await _post(anon, seeded, _text("START", "wamid.IN", second=10))  # Meta's late retry
    contact = await _contact(store, seeded)
    assert (contact.opted_out, contact.opted_out_changed_at) == (True, T + timedelta(seconds=20))
    # Still a customer message: signalled (the workflow keeps the later T).
    assert [m for m, _ in await _signalled(ts_env.client, _workflow_id(seeded))] == [
        "wamid.OUT",
        "wamid.IN",
    ]


async def test_an_image_captioned_stop_is_no_keyword(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store, ts_env: WorkflowEnvironment
) -> None:
    image = _text("STOP", "wamid.IMG")
    del image["text"]
    image |= {"type": "image", "image": {"caption": "STOP", "id": "1284937561029384"}}
    await _post(anon, seeded, image)
    contact = await _contact(store, seeded)
    assert (contact.opted_out, contact.opted_out_changed_at) == (False, None)
    assert [m for m, _ in await _signalled(ts_env.client, _workflow_id(seeded))] == ["wamid.IMG"]


async def test_a_malformed_text_body_is_still_a_customer_message(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store, ts_env: WorkflowEnvironment
) -> None:
    await _post(anon, seeded, _text("STOP", "wamid.BAD") | {"text": {"body": ["STOP"]}})
    assert (await _contact(store, seeded)).opted_out is False
    assert [m for m, _ in await _signalled(ts_env.client, _workflow_id(seeded))] == ["wamid.BAD"]


async def test_one_customers_stop_is_theirs_alone(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    await _post(
        anon,
        seeded,
        _text("hello", "wamid.A", sender=OTHER),
        _text("STOP", "wamid.B"),
        _text("START", "wamid.C", sender=OTHER),
    )
    assert (await _contact(store, seeded)).opted_out is True
    other = await _contact(store, seeded, OTHER)
    assert (other.opted_out, other.opted_out_changed_at) == (False, T)


async def test_conversations_left_to_a_hand_over_are_opted_out_before_it_starts(
    anon: httpx.AsyncClient,
    seeded: Seeded,
    store: Store,
    ts_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest, "INLINE_CONVERSATIONS", 1)
    await _post(
        anon,
        seeded,
        _text("STOP", "wamid.INLINE", sender=OTHER),
        _text("STOP", "wamid.LATER"),
    )
    assert (await _contact(store, seeded, OTHER)).opted_out is True
    assert (await _contact(store, seeded)).opted_out is True
    assert await _exists(ts_env.client, _workflow_id(seeded, OTHER))
    # The second conversation's signal is the hand-over workflow's to send.
    assert not await _exists(ts_env.client, _workflow_id(seeded))


async def test_a_failed_write_is_a_503_before_anything_is_signalled(
    anon: httpx.AsyncClient,
    seeded: Seeded,
    store: Store,
    ts_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def down(**_: Any) -> Contact | None:
        raise OperationalError("UPDATE contacts", {}, Exception("database is down"))

    monkeypatch.setattr(store.contacts, "set_opted_out", down)
    body = _body(seeded.phone_number_id, [_text("STOP", "wamid.OUT")])
    response = await post_webhook(anon, body)
    assert response.status_code == 503
    assert (await _contact(store, seeded)).opted_out is False
    assert not await _exists(ts_env.client, _workflow_id(seeded))

    monkeypatch.undo()  # Meta retries: now everything goes through
    assert (await post_webhook(anon, body)).status_code == 200
    assert (await _contact(store, seeded)).opted_out is True
    assert [m for m, _ in await _signalled(ts_env.client, _workflow_id(seeded))] == ["wamid.OUT"]


async def test_the_keywords_are_read_only_for_short_texts_and_then_cached(
    anon: httpx.AsyncClient, seeded: Seeded, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    read = store.settings.get

    async def counted(*, account_id: str) -> SessionSettingsRecord:
        reads.append(account_id)
        return await read(account_id=account_id)

    monkeypatch.setattr(store.settings, "get", counted)
    image = _text("", "wamid.IMG") | {"type": "image", "image": {"caption": "STOP", "id": "1"}}
    await _post(anon, seeded, image, _text("x" * (MAX_KEYWORD_LENGTH + 1), "wamid.LONG", second=1))
    assert reads == []
    await _post(anon, seeded, _text("hello", "wamid.A", second=2))
    await _post(anon, seeded, _text("STOP", "wamid.B", second=3))
    assert reads == [seeded.account_id]  # the second POST found them in the cache
    assert (await _contact(store, seeded)).opted_out is True


def test_cached_keywords_expire_within_seconds() -> None:
    clock = [0.0]
    cache = IngestCache(monotonic=lambda: clock[0])
    cache.remember_keywords("acme", Keywords.of(["STOP"], ["START"]))
    assert cache.keywords("acme") == Keywords.of(["stop"], ["start"])
    assert cache.keywords("other") is None
    clock[0] += KEYWORDS_TTL
    assert cache.keywords("acme") is None
    assert KEYWORDS_TTL <= 10  # other processes' saves must reach this one within seconds


def test_a_word_on_both_lists_opts_out() -> None:
    keywords = Keywords.of(["STOP", "End"], ["START", "end"])
    assert keywords.opts_out(" end\n") is True
    assert keywords.opts_out("Start") is False
    assert keywords.opts_out("hello") is None


# -- through the contacts API ----------------------------------------------------------------


def _path(seeded: Seeded, customer: str = CUSTOMER) -> str:
    return f"/v1/accounts/{seeded.account_id}/contacts/{customer}"


async def test_the_api_opts_out_and_back_in(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    before = datetime.now(UTC)
    created = await client.put(_path(seeded), json={"first_name": "Priya", "opted_out": True})
    assert created.status_code == 201, created.text
    assert created.json()["opted_out"] is True
    changed_at = datetime.fromisoformat(created.json()["opted_out_changed_at"])
    assert before <= changed_at <= datetime.now(UTC)
    contact = await _contact(store, seeded)
    assert (contact.opted_out, contact.opted_out_changed_at) == (True, changed_at)

    shown = await client.get(_path(seeded))
    assert shown.status_code == 200
    assert shown.json() == created.json()

    # Omitted: unchanged (the names are replaced, as always).
    renamed = await client.put(_path(seeded), json={"first_name": "Priya R."})
    assert renamed.status_code == 200
    assert (renamed.json()["opted_out"], renamed.json()["first_name"]) == (True, "Priya R.")
    assert (await _contact(store, seeded)).opted_out is True

    back = await client.put(_path(seeded), json={"first_name": "Priya R.", "opted_out": False})
    assert back.status_code == 200
    assert back.json()["opted_out"] is False
    assert datetime.fromisoformat(back.json()["opted_out_changed_at"]) >= changed_at
    assert (await client.get(_path(seeded))).json()["opted_out"] is False
    assert (await _contact(store, seeded)).opted_out is False


async def test_a_contact_never_opted_has_no_change_time(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, seeded: Seeded
) -> None:
    await _post(anon, seeded, _text("hello", "wamid.A"))
    shown = await client.get(_path(seeded))
    assert shown.status_code == 200
    assert (shown.json()["opted_out"], shown.json()["opted_out_changed_at"]) == (False, None)
    assert shown.json()["wa_id"] == CUSTOMER


async def test_a_keyword_written_later_than_the_api_call_wins(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    assert (await client.put(_path(seeded), json={"opted_out": True})).status_code == 201
    # A START written an hour ago (delivered late) is older than the API's opt-out.
    await _post(anon, seeded, _text("START", "wamid.OLD"))
    assert (await _contact(store, seeded)).opted_out is True
    # One written after it wins.
    start = _text("START", "wamid.NEW") | {"timestamp": str(int(time.time()) + 1)}
    await _post(anon, seeded, start)
    assert (await _contact(store, seeded)).opted_out is False


async def test_a_contact_by_bsuid(client: httpx.AsyncClient, seeded: Seeded, store: Store) -> None:
    put = await client.put(_path(seeded, BSUID), json={"opted_out": True})
    assert put.status_code == 201
    shown = await client.get(_path(seeded, BSUID))
    assert shown.status_code == 200
    assert (shown.json()["user_id"], shown.json()["opted_out"]) == (BSUID, True)
    assert put.json() == shown.json()


async def test_unknown_contact_or_account_is_404(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    missing = await client.get(_path(seeded))
    assert missing.status_code == 404
    assert missing.json() == {"detail": "contact not found"}
    assert (await client.get(_path(seeded, BSUID))).status_code == 404
    assert (await client.get("/v1/accounts/nobody/contacts/15553827461")).status_code == 404
    assert (await client.get(f"/v1/accounts/{seeded.account_id}/contacts/nope")).status_code == 422
    assert await contact_by_number(store, account_id=seeded.account_id, wa_id=CUSTOMER) is None


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, [], {}])
async def test_a_non_boolean_opted_out_is_422(
    client: httpx.AsyncClient, seeded: Seeded, store: Store, value: object
) -> None:
    response = await client.put(_path(seeded), json={"opted_out": value})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "opted_out"]
    assert await contact_by_number(store, account_id=seeded.account_id, wa_id=CUSTOMER) is None


# -- in the sessions ---------------------------------------------------------------------------


async def test_a_session_shows_the_opt_out(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    seeded: Seeded,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sessions, "QUERY_TIMEOUT", timedelta(milliseconds=300))
    await _post(anon, seeded, _text("STOP", "wamid.OUT"))
    path = f"/v1/accounts/{seeded.account_id}/sessions/{CUSTOMER}"
    session = (await client.get(path)).json()
    assert session["opted_out"] is True
    await _post(anon, seeded, _text("START", "wamid.IN", second=1))
    assert (await client.get(path)).json()["opted_out"] is False
    assert (await _contact(store, seeded)).opted_out is False


async def test_a_body_with_only_opted_out_keeps_the_names(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    created = await client.put(
        _path(seeded), json={"first_name": "Priya", "last_name": "Rao", "email": "p@r.example"}
    )
    assert created.status_code == 201, created.text
    toggled = await client.put(_path(seeded), json={"opted_out": True})
    assert toggled.status_code == 200, toggled.text
    assert (toggled.json()["first_name"], toggled.json()["email"]) == ("Priya", "p@r.example")
    contact = await _contact(store, seeded)
    assert (contact.opted_out, contact.first_name, contact.last_name) == (True, "Priya", "Rao")
    # A customer the API never saw is created, opted out, without names.
    fresh = await client.put(_path(seeded, OTHER), json={"opted_out": True})
    assert fresh.status_code == 201, fresh.text
    assert (fresh.json()["opted_out"], fresh.json()["first_name"]) == (True, None)


async def test_a_settings_save_makes_this_process_use_the_new_keywords_at_once(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    await _post(anon, seeded, _text("hello", "wamid.A", second=1))  # caches the defaults
    saved = await client.put(
        f"/v1/accounts/{seeded.account_id}/session-settings",
        json={
            "enabled": True,
            "expiry_hours": 2,
            "message": DEFAULT_MESSAGE,
            "opt_out_keywords": ["QUIT"],
        },
    )
    assert saved.status_code == 200, saved.text
    await _post(anon, seeded, _text("quit", "wamid.B", second=2))
    assert (await _contact(store, seeded)).opted_out is True
