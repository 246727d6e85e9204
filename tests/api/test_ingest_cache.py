"""The webhook path's cache: what it may remember, for how long, and what it must forget."""

from __future__ import annotations

from datetime import UTC, datetime

from api.ingest_cache import ACCOUNT_TTL, CONTACT_TTL, IngestCache
from store.records import Account

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ACME = Account(
    account_id="acme",
    company_name="Acme",
    phone_number_id="1001",
    access_token="t",
    created_at=NOW,
    updated_at=NOW,
)


def _cache() -> tuple[IngestCache, list[float]]:
    clock = [0.0]
    return IngestCache(monotonic=lambda: clock[0], max_contacts=2), clock


def test_accounts_expire_and_are_forgotten_on_change() -> None:
    cache, clock = _cache()
    assert cache.account("1001") is None
    cache.remember_account(ACME)
    assert cache.account("1001") == ACME
    clock[0] += ACCOUNT_TTL + 1
    assert cache.account("1001") is None
    cache.remember_account(ACME)
    cache.forget_accounts()
    assert cache.account("1001") is None


def test_contacts_are_known_only_with_the_same_profile_name() -> None:
    cache, clock = _cache()
    assert not cache.contact_stored("acme", "1555", "Ana")
    cache.remember_contact("acme", "1555", "Ana")
    assert cache.contact_stored("acme", "1555", "Ana")
    assert cache.contact_stored("acme", "1555", None)  # a message without a name changes nothing
    assert not cache.contact_stored("acme", "1555", "Ana Lima")  # a new name must be written
    cache.remember_contact("acme", "1555", None)  # keeps the name it knew
    assert cache.contact_stored("acme", "1555", "Ana")
    clock[0] += CONTACT_TTL + 1
    assert not cache.contact_stored("acme", "1555", "Ana")


def test_contacts_are_bounded_oldest_first() -> None:
    cache, _ = _cache()
    for wa_id in ("1", "2", "3"):
        cache.remember_contact("acme", wa_id, "x")
    assert not cache.contact_stored("acme", "1", "x")
    assert cache.contact_stored("acme", "2", "x") and cache.contact_stored("acme", "3", "x")
