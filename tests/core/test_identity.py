"""Who a customer is: the identifiers a webhook or a path gives, and the key they get."""

from __future__ import annotations

import pytest

from core.conversation_key import conversation_key, new_conversation_key
from core.identity import CustomerIdentity, parse_customer_id

NUMBER = "15553827461"
BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"


def test_a_customer_needs_a_number_or_a_bsuid() -> None:
    with pytest.raises(ValueError, match="phone number or a BSUID"):
        CustomerIdentity(username="@maria")


def test_the_label_prefers_the_bsuid_then_the_number_then_the_parent() -> None:
    assert CustomerIdentity(wa_id=NUMBER, user_id=BSUID).label == f"bsuid:{BSUID}"
    assert CustomerIdentity(wa_id=NUMBER, parent_user_id=PARENT).label == f"phone:{NUMBER}"
    assert CustomerIdentity(parent_user_id=PARENT).label == f"parent:{PARENT}"
    both = CustomerIdentity(wa_id=NUMBER, user_id=BSUID, parent_user_id=PARENT)
    assert both.labels == (f"phone:{NUMBER}", f"bsuid:{BSUID}", f"parent:{PARENT}")


def test_the_recipient_is_the_bsuid_else_the_parent() -> None:
    assert CustomerIdentity(user_id=BSUID, parent_user_id=PARENT).recipient == BSUID
    assert CustomerIdentity(parent_user_id=PARENT).recipient == PARENT
    assert CustomerIdentity(wa_id=NUMBER).recipient is None


def test_merged_keeps_what_either_says_and_the_newer_wins() -> None:
    old = CustomerIdentity(user_id=BSUID, username="@old")
    new = CustomerIdentity(wa_id=NUMBER, username="@new")
    assert old.merged(new) == CustomerIdentity(wa_id=NUMBER, user_id=BSUID, username="@new")
    assert new.merged(CustomerIdentity(user_id=BSUID)).username == "@new"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (NUMBER, CustomerIdentity(wa_id=NUMBER)),
        (BSUID, CustomerIdentity(user_id=BSUID)),
        ("BR.1502576394655843", CustomerIdentity(user_id="BR.1502576394655843")),
        (PARENT, CustomerIdentity(parent_user_id=PARENT)),
    ],
)
def test_a_path_names_a_customer_by_number_or_bsuid(text: str, expected: CustomerIdentity) -> None:
    assert parse_customer_id(text) == expected


@pytest.mark.parametrize(
    "text", ["", "+15553827461", "123", "us.123", "US.", "US.12-34", "USA.123", "US." + "1" * 129]
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a WhatsApp number"):
        parse_customer_id(text)


def test_a_number_keeps_the_key_it_always_had() -> None:
    # Conversations from before BSUIDs keep their workflow ids.
    for identity in (
        CustomerIdentity(wa_id=NUMBER),
        CustomerIdentity(wa_id=NUMBER, user_id=BSUID, username="@maria"),
    ):
        assert new_conversation_key(secret="s", account_id="acme", identity=identity) == (
            conversation_key(secret="s", account_id="acme", wa_id=NUMBER)
        )


def test_a_bsuid_key_is_keyed_scoped_and_reveals_nothing() -> None:
    key = new_conversation_key(
        secret="s", account_id="acme", identity=CustomerIdentity(user_id=BSUID)
    )
    assert len(key) == 20 and int(key, 16) >= 0
    assert BSUID not in key and "13491208655302741918" not in key
    others = {
        new_conversation_key(
            secret="t", account_id="acme", identity=CustomerIdentity(user_id=BSUID)
        ),
        new_conversation_key(
            secret="s", account_id="other", identity=CustomerIdentity(user_id=BSUID)
        ),
        new_conversation_key(
            secret="s", account_id="acme", identity=CustomerIdentity(parent_user_id=PARENT)
        ),
        # The BSUID's digits as a number: a different key (numbers and BSUIDs never share one).
        conversation_key(secret="s", account_id="acme", wa_id="13491208655302741918"),
    }
    assert key not in others and len(others) == 4
