"""core/redact.py: customer ids in request targets become keyed markers; nothing else changes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.conversation_key import conversation_key, new_conversation_key
from core.identity import CustomerIdentity
from core.redact import (
    account_of,
    names_customer,
    redact_path,
    redact_query,
    redact_target,
    redact_text,
    withheld,
)

SECRET = "redact-test-secret"
NUMBER = "15550000123"
BSUID = "US.13491208655302741918"


def test_a_number_in_a_path_becomes_the_start_of_its_conversation_key() -> None:
    key = conversation_key(secret=SECRET, account_id="acme", wa_id=NUMBER)
    assert (
        redact_path(f"/v1/accounts/acme/contacts/{NUMBER}", secret=SECRET)
        == f"/v1/accounts/acme/contacts/customer:{key[:8]}"
    )


def test_a_bsuid_in_a_path_becomes_the_start_of_its_conversation_key() -> None:
    key = new_conversation_key(
        secret=SECRET, account_id="acme", identity=CustomerIdentity(user_id=BSUID)
    )
    assert (
        redact_path(f"/v1/accounts/acme/sessions/{BSUID}", secret=SECRET)
        == f"/v1/accounts/acme/sessions/customer:{key[:8]}"
    )


@pytest.mark.parametrize(
    "spelling", [NUMBER, f"+{NUMBER}", "+1 (555) 000-0123", "1-555-000-0123", "%2B15550000123"]
)
def test_every_spelling_of_a_number_is_redacted_alike(spelling: str) -> None:
    redacted = redact_path(f"/v1/accounts/acme/contacts/{spelling}", secret=SECRET)
    assert redacted == redact_path(f"/v1/accounts/acme/contacts/{NUMBER}", secret=SECRET)


def test_the_marker_depends_on_the_account_and_the_secret() -> None:
    one = redact_text(NUMBER, secret=SECRET, account_id="acme")
    assert one != redact_text(NUMBER, secret=SECRET, account_id="other")
    assert one != redact_text(NUMBER, secret="another-secret", account_id="acme")


def test_an_all_digit_account_id_is_kept() -> None:
    path = "/v1/accounts/15551234567/sessions"
    assert redact_path(path, secret=SECRET) == path
    assert account_of(path) == "15551234567"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/healthz",
        "/webhooks/whatsapp",
        "/v1/accounts/acme/session-settings/preview",
        "/v1/accounts/acme/reminders",
        "/v1/accounts/acme/contacts/123456",  # six digits: not a number
        "/static/app.3f9c2a.js",
    ],
)
def test_paths_without_customers_are_unchanged(path: str) -> None:
    assert redact_path(path, secret=SECRET) == path


def test_query_values_naming_customers_are_redacted_and_others_kept() -> None:
    query = f"wa_id={NUMBER}&limit=50&cursor=abc%3D&flag&who={BSUID}"
    redacted = redact_query(query, secret=SECRET, account_id="acme")
    assert NUMBER not in redacted and BSUID not in redacted
    assert redacted.startswith("wa_id=customer:")
    assert "&limit=50&cursor=abc%3D&flag&who=customer:" in redacted


def test_a_plus_encoded_number_in_a_query_is_redacted() -> None:
    assert NUMBER not in redact_query("wa_id=%2B15550000123", secret=SECRET)
    assert "5550000123" not in redact_query("wa_id=%2B1+555+000+0123", secret=SECRET)


def test_tokens_in_queries_are_masked() -> None:
    query = "hub.mode=subscribe&hub.verify_token=s3cret&hub.challenge=abc"
    assert (
        redact_query(query, secret=SECRET)
        == "hub.mode=subscribe&hub.verify_token=***&hub.challenge=abc"
    )


def test_redact_target_joins_path_and_query_with_the_paths_account() -> None:
    target = redact_target("/v1/accounts/acme/reminders", f"wa_id={NUMBER}", secret=SECRET)
    assert target == "/v1/accounts/acme/reminders?wa_id=" + redact_text(
        NUMBER, secret=SECRET, account_id="acme"
    )
    assert redact_target("/healthz", "", secret=SECRET) == "/healthz"


def test_names_customer_recognises_numbers_and_bsuids_anywhere() -> None:
    assert names_customer(NUMBER) and names_customer(BSUID)
    assert names_customer(f"call +{NUMBER} now") and names_customer(f"x{BSUID}")
    assert not names_customer("acme") and not names_customer("123456")


def test_customer_ids_inside_malformed_values_are_redacted() -> None:
    # A request the API refuses (422) is logged too, and is not a well-formed id.
    query = f"wa_id=%2B{NUMBER}+{BSUID}"
    redacted = redact_query(query, secret=SECRET, account_id="acme")
    assert NUMBER not in redacted and BSUID not in redacted
    assert redacted.count("customer:") == 2
    path = redact_path(f"/v1/accounts/acme/contacts/{NUMBER}.json", secret=SECRET)
    assert NUMBER not in path and path.endswith(".json")


@given(st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True), st.sampled_from(["contacts", "x"]))
def test_no_number_survives_in_any_path_position(number: str, segment: str) -> None:
    redacted = redact_target(
        f"/v1/accounts/acme/{segment}/{number}/more", f"q={number}", secret=SECRET
    )
    assert number not in redacted


def test_withheld_names_the_class_and_frames_but_never_the_message() -> None:
    # The frames quote source lines, so the number comes in as data, as a customer's would.
    def fail(number: str) -> None:
        try:
            raise ValueError(f"Key (wa_id)=({number}) already exists")
        except ValueError as err:
            raise RuntimeError(f"while saving {number}") from err

    try:
        fail(NUMBER)
    except RuntimeError as err:
        text = withheld(err)
    assert text.startswith("RuntimeError (message withheld)")
    assert "in fail" in text
    assert "15550000123" not in text
