"""``GET /v1/accounts/{id}/analytics`` (docs/analytics.md#the-analytics-endpoint), on SQLite and
PostgreSQL: counts, rates, medians, the day series and the cost, against records seeded straight
into the table and figures worked out by hand below."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from boot import Resources
from core.config import Settings
from core.vocabulary import DeliveryStatus, ReminderOutcome, SendKind
from store.models import ReminderRow
from store.repository import Store
from tests.api.conftest import Seeded, asgi_client
from tests.api.support import on_both_databases

# Every test here runs on both databases.
postgres_database, database_url = on_both_databases("api_analytics")

# The app's "now" (default range: the 30 days up to today).
NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
RANGE = {"from": "2026-11-01", "to": "2026-11-07"}

UK, INDIA, US = "447911000001", "919800000001", "15551230001"
BSUID = "US.13491208655302741918"
PRICES: dict[str, Any] = {
    "default": {"amount": "0.0040", "currency": "USD"},
    "by_country_code": {
        "44": {"amount": "0.0300", "currency": "USD"},
        "91": {"amount": "0.0100", "currency": "USD"},
    },
    "template": {"amount": "0.0500", "currency": "USD"},
}

SENT, FAILED = ReminderOutcome.SENT, ReminderOutcome.FAILED
DELIVERED, READ = DeliveryStatus.DELIVERED, DeliveryStatus.READ


def at(
    day: int, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0, *, month: int = 11
) -> datetime:
    return datetime(2026, month, day, hour, minute, second, micro, tzinfo=UTC)


def record(
    decided_at: datetime,
    outcome: str = SENT,
    *,
    delivery: str | None = None,
    wa_id: str | None = US,
    user_id: str | None = None,
    reply: int | None = None,
    kind: str = SendKind.REMINDER,
) -> dict[str, Any]:
    """One audit record's columns; ``reply``: replied that many seconds after the send."""
    return {
        "wa_id": wa_id,
        "user_id": user_id,
        "last_customer_message_at": decided_at - timedelta(hours=3),
        "outcome": outcome,
        "idempotency_key": None,
        "delivery_status": delivery,
        "attempts": 1,
        "decided_at": decided_at,
        "created_at": decided_at,
        "kind": kind,
        "replied_at": None if reply is None else decided_at + timedelta(seconds=reply),
        "reply_seconds": reply,
    }


# The account's records. Expected, from 2026-11-01 to 2026-11-07:
#   reminders sent 8 (r1 r2 r3 r4 r5 r9 r10 r13); delivered 6 (r1 r2 r4 r9 r10 r13), of those
#   read 2 (r2 r4); replied 5 (r1 r2 r4 r9 r13: 60, 120, 300, 30, 45 s → median 60);
#   failed 3 (r5 sent then failed, r6, r7); templates sent 3 (t1 t2 t3).
#   Cost: reminders r1 0.03 + r2 0.01 + r4 0.03 + r9 0.004 (BSUID: default) + r10 0.004 (US:
#   default) + r13 0.03 = 0.1080; templates t1 + t2 at 0.05 = 0.1000; total 0.2080;
#   per reply 0.1080 / 5 = 0.0216.
SEEDED = [
    # 11-01: 3 sent, 2 replied
    record(at(1, 9), delivery=DELIVERED, wa_id=UK, reply=60),  # r1
    record(at(1, 10), delivery=READ, wa_id=INDIA, reply=120),  # r2
    record(at(1, 11)),  # r3: sent, no status yet
    # 11-02: nothing
    # 11-03: 4 sent, 3 replied
    record(at(3, 8), delivery=READ, wa_id=UK, reply=300),  # r4
    record(at(3, 9), delivery=DeliveryStatus.FAILED, wa_id=INDIA),  # r5
    record(at(3, 10), FAILED),  # r6
    record(at(3, 11), ReminderOutcome.FAILED_WINDOW_CLOSED),  # r7
    record(at(3, 12), ReminderOutcome.SKIPPED_QUIET_HOURS),  # r8: not counted anywhere
    record(at(3, 23, 59, 59, 999_999), delivery=DELIVERED, wa_id=None, user_id=BSUID, reply=30),
    record(at(3, 13), delivery=DELIVERED, wa_id="447700900123", reply=45),  # r13
    record(at(3, 14), ReminderOutcome.PENDING),  # in flight: not counted
    # 11-04: templates only
    record(at(4), delivery=DELIVERED, wa_id=UK, kind=SendKind.TEMPLATE),  # t1
    record(at(4), delivery=READ, wa_id=None, user_id=BSUID, kind=SendKind.TEMPLATE),  # t2
    record(at(4), kind=SendKind.TEMPLATE),  # t3: sent, not delivered
    record(at(4), FAILED, kind=SendKind.TEMPLATE),  # t4: a failed template is no failed reminder
    # 11-07, its first instant: 1 sent
    record(at(7, 0), delivery=DELIVERED, wa_id="15551230002"),  # r10
    # Outside the range, by a microsecond on either side.
    record(at(31, 23, 59, 59, 999_999, month=10), delivery=DELIVERED, wa_id=UK, reply=5),
    record(at(8, 0), delivery=DELIVERED, wa_id=UK, reply=5),
]
# Another account's records on the same days.
OTHERS = [
    record(at(day), delivery=READ, wa_id=UK, reply=1, kind=kind)
    for day in (1, 3, 4)
    for kind in SendKind
]


def day(on: str, sent: int = 0, replied: int = 0, rate: float | None = None) -> dict[str, Any]:
    return {"date": on, "reminders_sent": sent, "replied": replied, "reply_rate": rate}


EXPECTED_DAYS = [
    day("2026-11-01", 3, 2, 0.6667),
    day("2026-11-02"),
    day("2026-11-03", 4, 3, 0.75),
    day("2026-11-04"),
    day("2026-11-05"),
    day("2026-11-06"),
    day("2026-11-07", 1, 0, 0.0),
]


async def seed(store: Store, account_id: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` for ``account_id``, each with an id and a conversation of its own (the
    PostgreSQL database is shared by the module's tests)."""
    fresh = [
        row
        | {
            "account_id": account_id,
            "reminder_id": str(uuid.uuid4()),
            "conversation_key": uuid.uuid4().hex,
        }
        for row in rows
    ]
    async with store._transactions.write() as tx:
        await tx.execute(insert(ReminderRow), fresh)


async def set_prices(client: httpx.AsyncClient, account_id: str, prices: Any) -> None:
    body = {"enabled": False, "expiry_hours": 23, "message_prices": prices}
    response = await client.put(f"/v1/accounts/{account_id}/session-settings", json=body)
    assert response.status_code == 200, response.text


@pytest.fixture
def app(
    settings: Settings, store: Store, ts_env: WorkflowEnvironment, http: httpx.AsyncClient
) -> FastAPI:
    """The API with its clock pinned at ``NOW``."""
    resources = Resources(store=store, temporal=ts_env.client, http=http, clock=lambda: NOW)
    return create_app(settings, resources=resources)


@pytest.fixture
async def other(store: Store) -> str:
    """Another account, with records on the same days."""
    account_id = f"other-{uuid.uuid4().hex[:10]}"
    await store.accounts.upsert(
        account_id=account_id,
        company_name="Other Inc.",
        phone_number_id=str(uuid.uuid4().int % 10**15),
        access_token="EAAG-other",
    )
    await seed(store, account_id, OTHERS)
    return account_id


@pytest.fixture
async def seeded_records(store: Store, seeded: Seeded, other: str) -> Seeded:
    await seed(store, seeded.account_id, SEEDED)
    return seeded


def path(account_id: str) -> str:
    return f"/v1/accounts/{account_id}/analytics"


async def analytics(client: httpx.AsyncClient, account_id: str, **params: str) -> dict[str, Any]:
    response = await client.get(path(account_id), params=params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


# -- counts -----------------------------------------------------------------------------------


async def test_the_whole_answer_without_prices(
    client: httpx.AsyncClient, seeded_records: Seeded
) -> None:
    assert await analytics(client, seeded_records.account_id, **RANGE) == {
        "from": "2026-11-01",
        "to": "2026-11-07",
        "reminders_sent": 8,
        "delivered": 6,
        "read": 2,
        "failed": 3,
        "replied": 5,
        "reply_rate": 0.625,
        "median_reply_seconds": 60,
        "templates_sent": 3,
        "estimated_cost": None,
        "cost_per_reply": None,
        "days": EXPECTED_DAYS,
    }


async def test_the_cost_at_the_accounts_prices(
    client: httpx.AsyncClient, seeded_records: Seeded
) -> None:
    await set_prices(client, seeded_records.account_id, PRICES)
    answer = await analytics(client, seeded_records.account_id, **RANGE)
    assert answer["estimated_cost"] == {"amount": "0.2080", "currency": "USD"}
    assert answer["cost_per_reply"] == {"amount": "0.0216", "currency": "USD"}
    # The counts do not depend on the prices.
    assert (answer["reminders_sent"], answer["days"]) == (8, EXPECTED_DAYS)


async def test_without_a_template_price_templates_cost_what_reminders_do(
    client: httpx.AsyncClient, seeded_records: Seeded
) -> None:
    await set_prices(client, seeded_records.account_id, PRICES | {"template": None})
    answer = await analytics(client, seeded_records.account_id, **RANGE)
    # t1 to a UK number 0.0300, t2 to a BSUID at the default 0.0040.
    assert answer["estimated_cost"] == {"amount": "0.1420", "currency": "USD"}
    assert answer["cost_per_reply"] == {"amount": "0.0216", "currency": "USD"}


async def test_the_estimate_keeps_the_prices_precision(
    client: httpx.AsyncClient, seeded_records: Seeded
) -> None:
    prices = {"default": {"amount": "0.001234", "currency": "EUR"}}
    await set_prices(client, seeded_records.account_id, prices)
    answer = await analytics(client, seeded_records.account_id, **RANGE)
    # 6 delivered reminders and 2 delivered templates, all at the default.
    assert answer["estimated_cost"] == {"amount": "0.009872", "currency": "EUR"}
    # 6 × 0.001234 / 5 = 0.0014808
    assert answer["cost_per_reply"] == {"amount": "0.001481", "currency": "EUR"}


async def test_an_odd_and_an_even_median(client: httpx.AsyncClient, seeded_records: Seeded) -> None:
    account_id = seeded_records.account_id
    # 11-03 alone: 300, 30, 45 → 45.
    answer = await analytics(client, account_id, **{"from": "2026-11-03", "to": "2026-11-03"})
    assert (answer["replied"], answer["median_reply_seconds"]) == (3, 45)
    assert answer["days"] == [day("2026-11-03", 4, 3, 0.75)]
    # 11-01 and 11-02: 60, 120 → their mean, 90.
    answer = await analytics(client, account_id, **{"from": "2026-11-01", "to": "2026-11-02"})
    assert (answer["replied"], answer["median_reply_seconds"]) == (2, 90)


async def test_a_half_second_median(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    await seed(
        store,
        seeded.account_id,
        [record(at(2, hour), delivery=READ, reply=seconds) for hour, seconds in ((1, 7), (2, 8))],
    )
    answer = await analytics(client, seeded.account_id, **RANGE)
    assert (answer["reminders_sent"], answer["median_reply_seconds"]) == (2, 7.5)
    assert answer["reply_rate"] == 1.0


async def test_an_empty_range(client: httpx.AsyncClient, seeded_records: Seeded) -> None:
    answer = await analytics(
        client, seeded_records.account_id, **{"from": "2026-10-01", "to": "2026-10-02"}
    )
    assert answer == {
        "from": "2026-10-01",
        "to": "2026-10-02",
        "reminders_sent": 0,
        "delivered": 0,
        "read": 0,
        "failed": 0,
        "replied": 0,
        "reply_rate": None,
        "median_reply_seconds": None,
        "templates_sent": 0,
        "estimated_cost": None,
        "cost_per_reply": None,
        "days": [day("2026-10-01"), day("2026-10-02")],
    }
    # With prices, nothing delivered costs nothing; still no cost per reply.
    await set_prices(client, seeded_records.account_id, PRICES)
    answer = await analytics(
        client, seeded_records.account_id, **{"from": "2026-10-01", "to": "2026-10-02"}
    )
    assert answer["estimated_cost"] == {"amount": "0.0000", "currency": "USD"}
    assert answer["cost_per_reply"] is None


async def test_the_other_account_sees_only_its_own(
    client: httpx.AsyncClient, seeded_records: Seeded, other: str
) -> None:
    answer = await analytics(client, other, **RANGE)
    assert (answer["reminders_sent"], answer["replied"], answer["templates_sent"]) == (3, 3, 3)
    assert [d["reminders_sent"] for d in answer["days"]] == [1, 0, 1, 1, 0, 0, 0]


async def test_the_default_range_is_the_last_30_days(
    client: httpx.AsyncClient, seeded_records: Seeded
) -> None:
    answer = await analytics(client, seeded_records.account_id)
    # NOW is 2026-11-20: from 2026-10-22, so every seeded record is in, 10-31 and 11-08 too.
    assert (answer["from"], answer["to"], len(answer["days"])) == ("2026-10-22", "2026-11-20", 30)
    assert (answer["reminders_sent"], answer["replied"]) == (10, 7)
    # Only "to": the 30 days up to it.
    answer = await analytics(client, seeded_records.account_id, to="2026-11-07")
    assert (answer["from"], len(answer["days"])) == ("2026-10-09", 30)
    assert answer["reminders_sent"] == 9
    # Only "from": up to today.
    answer = await analytics(client, seeded_records.account_id, **{"from": "2026-11-08"})
    assert (answer["to"], len(answer["days"]), answer["reminders_sent"]) == ("2026-11-20", 13, 1)


async def test_a_range_of_366_days_is_allowed(
    client: httpx.AsyncClient, seeded_records: Seeded
) -> None:
    answer = await analytics(
        client, seeded_records.account_id, **{"from": "2025-11-08", "to": "2026-11-08"}
    )
    assert len(answer["days"]) == 366
    assert answer["days"][0]["date"] == "2025-11-08"
    assert answer["days"][-1] == day("2026-11-08", 1, 1, 1.0)
    assert answer["reminders_sent"] == 10


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "name", "rule"),
    [
        ({"from": "2026-11-1"}, "from", "utc_day"),
        ({"from": "2026-13-01"}, "from", "utc_day"),
        ({"from": "2026-02-30"}, "from", "utc_day"),
        ({"from": "yesterday"}, "from", "utc_day"),
        ({"from": "1700000000"}, "from", "utc_day"),
        ({"to": "2026-11-07T00:00:00"}, "to", "utc_day"),
        ({"to": ""}, "to", "utc_day"),
        ({"from": "2026-11-08", "to": "2026-11-07"}, "from", "date_order"),
        ({"from": "2026-11-21"}, "from", "date_order"),  # to is today, 2026-11-20
        ({"from": "2025-11-07", "to": "2026-11-08"}, "from", "date_span"),  # 367 days
        ({"from": "0001-01-01", "to": "9999-12-31"}, "from", "date_span"),
    ],
)
async def test_a_bad_range_is_a_422_naming_the_parameter_and_rule(
    client: httpx.AsyncClient, seeded: Seeded, params: dict[str, str], name: str, rule: str
) -> None:
    response = await client.get(path(seeded.account_id), params=params)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["query", name], rule)
    assert error["msg"]


async def test_the_ends_of_the_calendar_are_no_error(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    for params in (
        {"to": "0001-01-05"},
        {"from": "0001-01-01", "to": "0001-01-01"},
        {"from": "9999-12-31", "to": "9999-12-31"},
    ):
        answer = await analytics(client, seeded.account_id, **params)
        assert answer["reminders_sent"] == 0
    assert (await analytics(client, seeded.account_id, to="0001-01-05"))["from"] == "0001-01-01"


async def test_without_a_token_401(app: FastAPI, seeded: Seeded) -> None:
    async with asgi_client(app, auth=False) as anon:
        response = await anon.get(path(seeded.account_id), params=RANGE)
    assert response.status_code == 401


async def test_an_unknown_account_404(client: httpx.AsyncClient) -> None:
    response = await client.get(path("nobody-here"), params=RANGE)
    assert response.status_code == 404
    assert response.json() == {"detail": "account 'nobody-here' not found"}


@pytest.fixture
async def account_token(client: httpx.AsyncClient, seeded: Seeded) -> AsyncIterator[str]:
    response = await client.post(f"/v1/accounts/{seeded.account_id}/tokens", json={})
    assert response.status_code == 201, response.text
    yield response.json()["token"]


async def test_an_account_token_reaches_its_own_account_only(
    app: FastAPI, seeded_records: Seeded, other: str, account_token: str
) -> None:
    async with asgi_client(app, auth=False) as tenant:
        tenant.headers["Authorization"] = f"Bearer {account_token}"
        own = await tenant.get(path(seeded_records.account_id), params=RANGE)
        assert own.status_code == 200
        assert own.json()["reminders_sent"] == 8
        theirs = await tenant.get(path(other), params=RANGE)
        assert theirs.status_code == 404
        assert theirs.json() == {"detail": f"account {other!r} not found"}
