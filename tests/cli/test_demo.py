"""``wa-sessions demo-traffic``: the plan it follows, and its refusal outside sandbox mode.

The run itself, against a whole stack, is tests/e2e/test_demo_traffic.py.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cli.demo import COUNTRIES, NEWEST, OLDEST, plan
from tests.cli.conftest import Cli
from tests.cli.test_commands import _create_account

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("count", [1, 3, 8, 24, 200])
def test_the_plan_for_any_number_of_customers(count: int) -> None:
    demo = plan(count, now=NOW, rng=random.Random(count))
    customers = demo.customers
    assert len(customers) == count
    assert len({c.wa_id for c in customers}) == count
    prefixes = tuple(country.prefix for country in COUNTRIES)
    assert all(c.wa_id.startswith(prefixes) and 11 <= len(c.wa_id) <= 15 for c in customers)
    # Due at once (silent for more than the hour), inside the window (under 24 hours).
    assert all(NOW - OLDEST <= c.wrote_at <= NOW - NEWEST for c in customers)
    assert all(NOW - c.wrote_at > timedelta(hours=1) for c in customers)
    opted_out = sum(c.opts_out for c in customers)
    reminded = count - opted_out
    assert (opted_out >= 1) == (count >= 3) and opted_out < max(2, count / 4)
    # The faults never outnumber the sends that meet them; most reminders are read.
    assert demo.refused <= 1 and demo.lost + demo.unread + demo.refused <= reminded
    if count >= 8:
        assert demo.lost >= 1 and demo.unread >= 1 and demo.refused == 1
        read = reminded - demo.refused - demo.lost - demo.unread
        assert read > reminded / 2


def test_the_plan_is_repeatable_with_a_seed() -> None:
    first = plan(12, now=NOW, rng=random.Random(5))
    assert plan(12, now=NOW, rng=random.Random(5)) == first
    assert plan(12, now=NOW, rng=random.Random(6)) != first
    assert plan(12, now=NOW, rng=random.Random(5), opt_out=False).customers[0].opts_out is False


async def test_demo_traffic_refuses_a_service_that_is_not_in_sandbox_mode(cli: Cli) -> None:
    # This API sends to Meta's Graph API (the settings' default), so no demo traffic goes out.
    await _create_account(cli)
    result = await cli.run(
        "demo-traffic", "--customers", "4", "--sandbox-url", "http://127.0.0.1:9"
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: the service is not in sandbox mode: demo-traffic never sends to the real "
        "WhatsApp Cloud API"
    )
    # Refused before anything changed: the settings are still the defaults.
    async with httpx.AsyncClient(
        base_url=cli.api_url, headers={"Authorization": f"Bearer {cli.token}"}
    ) as api:
        settings = (await api.get(f"/v1/accounts/{cli.account}/session-settings")).json()
    assert (settings["enabled"], settings["version"]) == (False, 0)
