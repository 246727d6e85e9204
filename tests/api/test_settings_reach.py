"""``/v1/accounts/{id}/session-settings``, the fields of reaching the customer: quiet hours, the
time zone, the opt-out and opt-in keywords and the template fallback (docs/http-api.md).

The rules of the first three fields are tests/api/test_settings.py's.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from core.reach import (
    MAX_KEYWORD_LENGTH,
    MAX_KEYWORDS,
    MAX_TEMPLATE_PARAMETER_LENGTH,
    MAX_TEMPLATE_PARAMETERS,
)
from core.vocabulary import MAX_MESSAGE_LENGTH
from store.repository import Store
from tests.api.conftest import Seeded
from tests.api.test_settings import GOOD, only_error, path
from tests.store_reads import settings_history
from tests.support import store_sender

TEMPLATE: dict[str, Any] = {
    "name": "session_follow_up",
    "language": "en_US",
    "body_parameters": ["{contact_firstname}", "{company_name} team"],
}
FULL: dict[str, Any] = {
    "enabled": True,
    "expiry_hours": 5,
    "message": GOOD,
    "quiet_hours": {"start": "22:00", "end": "07:30"},
    "timezone": "Europe/Berlin",
    "opt_out_keywords": ["STOP", "Unsubscribe", "arrêt"],
    "opt_in_keywords": ["START", "Resume"],
    "fallback_template": TEMPLATE,
    "message_prices": {
        "default": {"amount": "0.0040", "currency": "USD"},
        "by_country_code": {"44": {"amount": "0.0300", "currency": "USD"}},
        "template": None,
    },
}
# The longest amount core.prices accepts.
LONGEST_PRICE = {"amount": "999.999999", "currency": "USD"}
DEFAULTS = {
    "quiet_hours": None,
    "timezone": "UTC",
    "opt_out_keywords": ["STOP"],
    "opt_in_keywords": ["START"],
    "fallback_template": None,
    "message_prices": None,
}


def with_(**changes: Any) -> dict[str, Any]:
    """The full document with some fields changed."""
    return FULL | changes


async def test_every_field_round_trips(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    response = await client.put(path(seeded), json=FULL)
    assert response.status_code == 200, response.text
    saved = response.json()["settings"]
    assert {key: saved[key] for key in FULL} == FULL
    fetched = (await client.get(path(seeded))).json()
    assert {key: fetched[key] for key in FULL} == FULL
    # The history keeps the whole document too.
    [change] = await settings_history(store, seeded.account_id)
    assert change.reach == {key: FULL[key] for key in DEFAULTS}


async def test_an_old_clients_body_takes_the_defaults(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    await client.put(path(seeded), json=FULL)
    # PUT replaces the document: what an old client does not know goes back to its default.
    response = await client.put(
        path(seeded), json={"enabled": True, "expiry_hours": 4, "message": GOOD}
    )
    assert response.status_code == 200, response.text
    fetched = (await client.get(path(seeded))).json()
    assert {key: fetched[key] for key in DEFAULTS} == DEFAULTS
    assert (fetched["enabled"], fetched["expiry_hours"], fetched["version"]) == (True, 4, 2)


async def test_quiet_hours_may_wrap_midnight_or_not(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    for quiet in ({"start": "00:00", "end": "23:59"}, {"start": "23:59", "end": "00:00"}):
        response = await client.put(path(seeded), json=with_(quiet_hours=quiet))
        assert response.status_code == 200, response.text
        assert response.json()["settings"]["quiet_hours"] == quiet


async def test_keywords_are_trimmed_and_may_be_empty_lists(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    response = await client.put(
        path(seeded), json=with_(opt_out_keywords=["  STOP  "], opt_in_keywords=[])
    )
    assert response.status_code == 200, response.text
    settings = response.json()["settings"]
    assert (settings["opt_out_keywords"], settings["opt_in_keywords"]) == (["STOP"], [])


# -- 422s: each names its field and its rule --------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "loc", "rule"),
    [
        (
            {"quiet_hours": {"start": "25:00", "end": "07:00"}},
            ["quiet_hours", "start"],
            "clock_time",
        ),
        ({"quiet_hours": {"start": "22:00", "end": "7:00"}}, ["quiet_hours", "end"], "clock_time"),
        ({"quiet_hours": {"start": "aa", "end": "07:00"}}, ["quiet_hours", "start"], "clock_time"),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, ["quiet_hours"], "quiet_hours_empty"),
        ({"quiet_hours": {"start": "22:00"}}, ["quiet_hours", "end"], "missing"),
        ({"timezone": "Mars/Olympus"}, ["timezone"], "timezone"),
        ({"timezone": ""}, ["timezone"], "timezone"),
        ({"opt_out_keywords": ["STOP", ""]}, ["opt_out_keywords", 1], "keyword_empty"),
        ({"opt_in_keywords": ["   "]}, ["opt_in_keywords", 0], "keyword_empty"),
        ({"opt_out_keywords": ["STOP", " stop"]}, ["opt_out_keywords"], "keyword_repeated"),
        ({"opt_out_keywords": ["k"] * 21}, ["opt_out_keywords"], "too_long"),
        (
            {"opt_out_keywords": ["STOP"], "opt_in_keywords": ["START", " Stop "]},
            ["opt_in_keywords"],
            "keyword_in_both",
        ),
        (
            {"fallback_template": TEMPLATE | {"body_parameters": ["{contact_age}"]}},
            ["fallback_template", "body_parameters", 0],
            "merge_field",
        ),
        (
            {"fallback_template": TEMPLATE | {"body_parameters": ["ok", "  "]}},
            ["fallback_template", "body_parameters", 1],
            "template_parameter_empty",
        ),
        (
            {"fallback_template": TEMPLATE | {"name": "Hello World!"}},
            ["fallback_template", "name"],
            "template_name",
        ),
        (
            {"fallback_template": TEMPLATE | {"language": "english"}},
            ["fallback_template", "language"],
            "template_language",
        ),
        (
            {"fallback_template": TEMPLATE | {"languages": "en"}},
            ["fallback_template", "languages"],
            "extra_forbidden",
        ),
    ],
)
async def test_a_bad_value_is_a_422_naming_field_and_rule(
    client: httpx.AsyncClient,
    seeded: Seeded,
    changes: dict[str, Any],
    loc: list[str | int],
    rule: str,
) -> None:
    error = only_error(await client.put(path(seeded), json=with_(**changes)))
    assert error["loc"] == ["body", *loc]
    assert error["type"] == rule
    assert error["msg"]
    # Nothing was saved.
    assert (await client.get(path(seeded))).json()["version"] == 0


async def test_the_messages_name_the_rule(client: httpx.AsyncClient, seeded: Seeded) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "HH:MM"),
        ({"quiet_hours": {"start": "07:00", "end": "07:00"}}, "must differ"),
        ({"timezone": "Mars/Olympus"}, "IANA time zone"),
        ({"opt_in_keywords": ["stop"]}, "'stop' is both an opt-out and an opt-in keyword"),
        (
            {"fallback_template": TEMPLATE | {"body_parameters": ["{contact_age}"]}},
            "unknown merge field {contact_age}",
        ),
        ({"fallback_template": TEMPLATE | {"name": "Hello World!"}}, "lowercase letters"),
        ({"fallback_template": TEMPLATE | {"language": "EN-us"}}, "en_US"),
    ]
    for changes, words in cases:
        error = only_error(await client.put(path(seeded), json=with_(**changes)))
        assert words in error["msg"], (changes, error)


async def test_a_keyword_failing_on_its_own_is_not_also_reported_as_in_both(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    response = await client.put(
        path(seeded), json=with_(opt_out_keywords=["STOP", "STOP"], opt_in_keywords=["stop"])
    )
    error = only_error(response)
    assert (error["loc"], error["type"]) == (["body", "opt_out_keywords"], "keyword_repeated")


@pytest.mark.parametrize(
    "body",
    [
        with_(quiet_hours="22:00-07:00"),
        with_(quiet_hours={"start": 22, "end": 7}),
        with_(timezone=["UTC"]),
        with_(opt_out_keywords="STOP"),
        with_(opt_out_keywords=[None]),
        with_(fallback_template="session_follow_up"),
        with_(fallback_template={"name": "x"}),
        with_(fallback_template=TEMPLATE | {"body_parameters": ["x"] * 21}),
        with_(fallback_template=TEMPLATE | {"body_parameters": ["a\nb"]}),
        with_(timezone="Europe/Berlin\u0000"),
    ],
)
async def test_malformed_values_are_422_never_500(
    client: httpx.AsyncClient, seeded: Seeded, body: dict[str, Any]
) -> None:
    response = await client.put(path(seeded), json=body)
    assert response.status_code == 422, response.text
    assert all(error["loc"][:2][-1] in FULL for error in response.json()["detail"])


# -- preview ---------------------------------------------------------------------------------


async def test_preview_renders_given_parameters_for_the_sample_contact(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    response = await client.post(
        path(seeded, "/preview"),
        json={
            "template_parameters": [
                "{contact_firstname} {contact_lastname}",
                "{company_name}",
                "{not_a_field",
            ]
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["template_parameters"] == ["John Smith", "Acme Inc.", "{not_a_field"]


async def test_preview_renders_the_saved_template_when_none_is_given(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    assert (await client.post(path(seeded, "/preview"), json={})).json()[
        "template_parameters"
    ] is None
    await client.put(path(seeded), json=FULL)
    answer = (await client.post(path(seeded, "/preview"), json={})).json()
    assert answer["template_parameters"] == ["John", "Acme Inc. team"]
    # Given parameters win over the saved ones, an empty list included.
    given = await client.post(path(seeded, "/preview"), json={"template_parameters": []})
    assert given.json()["template_parameters"] == []


async def test_preview_renders_each_stored_contact_without_leaking(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    await store_sender(
        store,
        account_id=seeded.account_id,
        wa_id="447700900123",
        conversation_key="k-omar",
        profile_name="Omar Haddad",
    )
    # A name with a new line and a run of spaces: Meta would refuse the parameter as is.
    await store_sender(
        store,
        account_id=seeded.account_id,
        wa_id="5511987654321",
        conversation_key="k-ana",
        profile_name="Ana\nMaria       Silva",
    )
    parameters = ["{contact_firstname}", "{contact_lastname} ({contact_phone})"]
    answers: dict[str, list[list[str]]] = {}
    for wa_id in ("447700900123", "5511987654321", "447700900123"):
        response = await client.post(
            path(seeded, "/preview"), json={"template_parameters": parameters, "wa_id": wa_id}
        )
        assert response.status_code == 200, response.text
        answers.setdefault(wa_id, []).append(response.json()["template_parameters"])
    assert answers["447700900123"] == [["Omar", "Haddad (+447700900123)"]] * 2
    assert answers["5511987654321"] == [["Ana", "Maria Silva (+5511987654321)"]]
    # The sample contact afterwards is still the sample contact.
    sample = await client.post(path(seeded, "/preview"), json={"template_parameters": parameters})
    assert sample.json()["template_parameters"] == ["John", "Smith (+1234567890)"]


async def test_preview_flattens_what_meta_would_refuse(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    response = await client.post(
        path(seeded, "/preview"),
        json={
            "contact": {"first_name": "Ana\tMaria", "last_name": "Silva          Costa"},
            "template_parameters": ["{contact_firstname} {contact_lastname}"],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["template_parameters"] == ["Ana Maria Silva    Costa"]


async def test_preview_refuses_an_unknown_merge_field_in_a_parameter(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    error = only_error(
        await client.post(
            path(seeded, "/preview"),
            json={"template_parameters": ["{contact_firstname}", "{contact_age}"]},
        )
    )
    assert error["loc"] == ["body", "template_parameters", 1]
    assert error["type"] == "merge_field"
    assert "{contact_age}" in error["msg"]


async def test_preview_bounds_the_parameters(client: httpx.AsyncClient, seeded: Seeded) -> None:
    error = only_error(
        await client.post(path(seeded, "/preview"), json={"template_parameters": ["x"] * 21})
    )
    assert (error["loc"], error["type"]) == (["body", "template_parameters"], "too_long")


async def test_a_document_at_every_bound_fits_the_body_limit(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    """Every field at its longest, every character a JSON-escaped emoji, a price for every
    country: still not a 413."""
    emoji = "\U0001f600"
    word = emoji * (MAX_KEYWORD_LENGTH - 3)
    body = with_(
        message=emoji * MAX_MESSAGE_LENGTH,
        opt_out_keywords=[f"{word}o{i:02d}" for i in range(MAX_KEYWORDS)],
        opt_in_keywords=[f"{word}i{i:02d}" for i in range(MAX_KEYWORDS)],
        fallback_template={
            "name": "a" * 512,
            "language": "en_US",
            "body_parameters": [emoji * MAX_TEMPLATE_PARAMETER_LENGTH] * MAX_TEMPLATE_PARAMETERS,
        },
        message_prices={
            "default": LONGEST_PRICE,
            "by_country_code": {str(code): LONGEST_PRICE for code in COUNTRY_CODE_TO_REGION_CODE},
            "template": LONGEST_PRICE,
        },
    )
    raw = json.dumps(body).encode()  # ensure_ascii: each emoji is \\ud83d\\ude00
    assert len(raw) > 64 * 1024
    response = await client.put(
        path(seeded), content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text[:300]
