"""The webhook path's cache: what it may remember, for how long, and what it must forget."""

from __future__ import annotations

from datetime import UTC, datetime

from api.ingest_cache import ACCOUNT_TTL, CONTACT_TTL, IngestCache
from core.identity import CustomerIdentity
from store.records import Account, Contact

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"
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


def _contact(
    wa_id: str | None = "1555",
    *,
    user_id: str | None = None,
    parent_user_id: str | None = None,
    username: str | None = None,
    profile_name: str | None = "Ana",
    key: str = "key-1",
) -> Contact:
    return Contact(
        account_id="acme",
        conversation_key=key,
        wa_id=wa_id,
        user_id=user_id,
        parent_user_id=parent_user_id,
        username=username,
        profile_name=profile_name,
        first_name=None,
        last_name=None,
        email=None,
        created_at=NOW,
        updated_at=NOW,
    )


def test_contacts_are_known_only_with_the_same_profile_name() -> None:
    cache, clock = _cache()
    ana = CustomerIdentity(wa_id="1555")
    assert cache.conversation_key("acme", ana, "Ana") is None
    cache.remember_contact(_contact())
    assert cache.conversation_key("acme", ana, "Ana") == "key-1"
    assert cache.conversation_key("acme", ana, None) == "key-1"  # no name changes nothing
    assert cache.conversation_key("acme", ana, "Ana Lima") is None  # a new name must be written
    assert cache.conversation_key("other", ana, "Ana") is None
    clock[0] += CONTACT_TTL + 1
    assert cache.conversation_key("acme", ana, "Ana") is None


def test_contacts_are_found_by_every_identifier_they_hold() -> None:
    cache = IngestCache(max_contacts=10)
    cache.remember_contact(_contact(user_id=BSUID, parent_user_id=PARENT, username="@ana"))
    for who in (
        CustomerIdentity(wa_id="1555"),
        CustomerIdentity(user_id=BSUID),
        CustomerIdentity(wa_id="1555", user_id=BSUID, username="@ana"),
        CustomerIdentity(parent_user_id=PARENT),
    ):
        assert cache.conversation_key("acme", who, None) == "key-1", who


def test_an_identifier_or_username_the_contact_lacks_goes_to_the_store() -> None:
    cache = IngestCache(max_contacts=10)
    cache.remember_contact(_contact(wa_id=None, user_id=BSUID, username="@ana"))
    assert cache.conversation_key("acme", CustomerIdentity(user_id=BSUID), None) == "key-1"
    news = (
        CustomerIdentity(wa_id="1555", user_id=BSUID),  # the number, newly known
        CustomerIdentity(user_id=BSUID, parent_user_id=PARENT),
        CustomerIdentity(user_id=BSUID, username="@ana.lima"),
    )
    for who in news:
        assert cache.conversation_key("acme", who, None) is None, who


def test_contacts_are_bounded_oldest_first() -> None:
    cache, _ = _cache()
    for n in ("1", "2", "3"):
        cache.remember_contact(_contact(f"155500{n}", key=f"k{n}"))
    assert cache.conversation_key("acme", CustomerIdentity(wa_id="1555001"), None) is None
    assert cache.conversation_key("acme", CustomerIdentity(wa_id="1555002"), None) == "k2"
    assert cache.conversation_key("acme", CustomerIdentity(wa_id="1555003"), None) == "k3"
