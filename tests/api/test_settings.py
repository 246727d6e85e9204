"""``/v1/accounts/{id}/session-settings``: validation rules, confirmation, broadcast, preview."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import Client

from core.config import Settings
from core.identity import CustomerIdentity
from core.vocabulary import DEFAULT_MESSAGE
from store.repository import Store
from tests.api.conftest import Seeded, asgi_client, build_app
from tests.store_reads import settings_history
from tests.support import store_sender

GOOD = "Hi {contact_firstname}! {company_name} here. Still interested?"


def path(seeded: Seeded, suffix: str = "") -> str:
    return f"/v1/accounts/{seeded.account_id}/session-settings{suffix}"


async def test_defaults_until_saved(client: httpx.AsyncClient, seeded: Seeded) -> None:
    response = await client.get(path(seeded))
    assert response.status_code == 200
    assert response.json() == {
        "enabled": False,
        "expiry_hours": 23,
        "message": DEFAULT_MESSAGE,
        "quiet_hours": None,
        "timezone": "UTC",
        "opt_out_keywords": ["STOP"],
        "opt_in_keywords": ["START"],
        "fallback_template": None,
        "message_prices": None,
        "updated_at": None,
        "version": 0,
    }


async def test_save_answers_the_confirmation(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    body = {"enabled": True, "expiry_hours": 4, "message": GOOD}
    response = await client.put(path(seeded), json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["message"] == "Settings saved successfully"
    assert {k: answer["settings"][k] for k in body} == body
    # Saved as version 1, and its delivery to the running sessions has started.
    assert answer["settings"]["version"] == 1
    assert answer["delivery"] == {
        "status": "started",
        "version": 1,
        "workflow_id": f"settings:{seeded.account_id}",
    }

    fetched = (await client.get(path(seeded))).json()
    assert {k: fetched[k] for k in body} == body
    [change] = await settings_history(store, seeded.account_id)
    assert (change.enabled, change.expiry_hours, change.message) == (True, 4, GOOD)


async def test_disabling_without_a_message_keeps_the_saved_one(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    await client.put(path(seeded), json={"enabled": True, "expiry_hours": 4, "message": GOOD})
    response = await client.put(path(seeded), json={"enabled": False, "expiry_hours": 5})
    assert response.status_code == 200
    assert response.json()["settings"] | {"updated_at": None} == {
        "enabled": False,
        "expiry_hours": 5,
        "message": GOOD,
        "quiet_hours": None,
        "timezone": "UTC",
        "opt_out_keywords": ["STOP"],
        "opt_in_keywords": ["START"],
        "fallback_template": None,
        "message_prices": None,
        "updated_at": None,
        "version": 2,
    }


@pytest.mark.parametrize("hours", [1, 23])
async def test_expiry_hours_bounds_are_accepted(
    client: httpx.AsyncClient, seeded: Seeded, hours: int
) -> None:
    response = await client.put(
        path(seeded), json={"enabled": True, "expiry_hours": hours, "message": GOOD}
    )
    assert response.status_code == 200


def only_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert len(errors) == 1, errors
    error: dict[str, Any] = errors[0]
    assert set(error) >= {"loc", "msg", "type"}
    assert "input" not in error
    return error


@pytest.mark.parametrize(
    ("hours", "rule"),
    [
        (0, "greater_than_equal"),
        (24, "less_than_equal"),
        (48, "less_than_equal"),
        (-1, "greater_than_equal"),
        (1.5, "int_type"),
        (5.0, "int_type"),
        ("5", "int_type"),
        (True, "int_type"),
        (None, "int_type"),
    ],
)
async def test_expiry_hours_must_be_an_integer_1_to_23(
    client: httpx.AsyncClient, seeded: Seeded, hours: object, rule: str
) -> None:
    response = await client.put(
        path(seeded), json={"enabled": True, "expiry_hours": hours, "message": GOOD}
    )
    error = only_error(response)
    assert error["loc"] == ["body", "expiry_hours"]
    assert error["type"] == rule


@pytest.mark.parametrize(
    ("message", "rule", "words"),
    [
        ("Too short", "string_too_short", "at least 10"),
        ("x" * 1001, "string_too_long", "at most 1000"),
        ("Hi {foo}, still there?", "merge_field", "unknown merge field {foo}"),
        ("Hi {contact_fullname}!!", "merge_field", "unknown merge field {contact_fullname}"),
        ("Hi { contact_firstname }!", "merge_field", "exactly"),
        (42, "string_type", "string"),
    ],
)
async def test_message_rules(
    client: httpx.AsyncClient, seeded: Seeded, message: object, rule: str, words: str
) -> None:
    response = await client.put(
        path(seeded), json={"enabled": True, "expiry_hours": 4, "message": message}
    )
    error = only_error(response)
    assert error["loc"] == ["body", "message"]
    assert error["type"] == rule
    assert words in error["msg"]


async def test_message_limits_count_characters(client: httpx.AsyncClient, seeded: Seeded) -> None:
    for message in ("😊" * 10, "é" * 1000):
        response = await client.put(
            path(seeded), json={"enabled": True, "expiry_hours": 4, "message": message}
        )
        assert response.status_code == 200, response.text


async def test_message_required_when_enabled(client: httpx.AsyncClient, seeded: Seeded) -> None:
    for body in (
        {"enabled": True, "expiry_hours": 4},
        {"enabled": True, "expiry_hours": 4, "message": None},
    ):
        error = only_error(await client.put(path(seeded), json=body))
        assert error["loc"] == ["body", "message"]
        assert error["type"] == "missing"
        assert "required when" in error["msg"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expiry_hours": 4, "message": GOOD}, "enabled"),
        ({"enabled": "yes", "expiry_hours": 4, "message": GOOD}, "enabled"),
        ({"enabled": True, "message": GOOD}, "expiry_hours"),
        ({"enabled": True, "expiry_hours": 4, "message": GOOD, "expiry_hour": 4}, "expiry_hour"),
    ],
)
async def test_other_fields(
    client: httpx.AsyncClient, seeded: Seeded, body: dict[str, object], field: str
) -> None:
    error = only_error(await client.put(path(seeded), json=body))
    assert error["loc"] == ["body", field]


async def test_invalid_settings_are_not_saved(client: httpx.AsyncClient, seeded: Seeded) -> None:
    await client.put(path(seeded), json={"enabled": True, "expiry_hours": 24, "message": GOOD})
    assert (await client.get(path(seeded))).json()["updated_at"] is None


async def test_unknown_account_is_404(client: httpx.AsyncClient) -> None:
    for method, suffix, body in [
        ("GET", "", None),
        ("PUT", "", {"enabled": False, "expiry_hours": 4}),
        ("POST", "/preview", {}),
    ]:
        response = await client.request(
            method, f"/v1/accounts/nobody/session-settings{suffix}", json=body
        )
        assert response.status_code == 404


# -- preview ---------------------------------------------------------------------------------


async def test_preview_of_the_saved_message_for_the_sample_contact(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    response = await client.post(path(seeded, "/preview"), json={})
    assert response.status_code == 200
    text = "Hi John! Following up on our conversation. Still interested? Let me know! 😊"
    assert response.json() == {
        "text": text,
        "characters": len(text),
        "within_limit": True,
        "notes": [],
        "template_parameters": None,
    }


async def test_preview_of_a_draft_for_an_ad_hoc_contact(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    response = await client.post(
        path(seeded, "/preview"),
        json={
            "message": "{contact_firstname} {contact_lastname} <{contact_email}> "
            "{contact_phone} · {company_name}",
            "contact": {"first_name": "Ana", "wa_id": "5511987654321", "email": "ana@x.br"},
        },
    )
    assert response.status_code == 200
    assert response.json()["text"] == "Ana  <ana@x.br> +5511987654321 · Acme Inc."
    # The number is there for this contact; the preview still warns it may not be for others.
    [note] = response.json()["notes"]
    assert note.startswith("{contact_phone} is empty for customers who hide their number")


async def test_preview_for_a_stored_contact(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    await store_sender(
        store,
        account_id=seeded.account_id,
        wa_id="447700900123",
        conversation_key="k",
        profile_name="Omar Haddad",
    )
    response = await client.post(
        path(seeded, "/preview"),
        json={"message": "Hi {contact_firstname} {contact_lastname}", "wa_id": "447700900123"},
    )
    assert response.status_code == 200
    assert response.json()["text"] == "Hi Omar Haddad"

    missing = await client.post(path(seeded, "/preview"), json={"wa_id": "16505550000"})
    assert missing.status_code == 404


async def test_preview_for_a_stored_contact_known_only_by_bsuid(
    client: httpx.AsyncClient, seeded: Seeded, store: Store
) -> None:
    await store.contacts.resolve_sender(
        account_id=seeded.account_id,
        identity=CustomerIdentity(user_id="US.13491208655302741918", username="@omar"),
        new_key="k-omar",
        profile_name="Omar",
    )
    response = await client.post(
        path(seeded, "/preview"),
        json={
            "message": "Hi {contact_firstname} ({contact_phone})",
            "wa_id": "US.13491208655302741918",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "Hi Omar ()"
    assert len(response.json()["notes"]) == 1


async def test_preview_refuses_unknown_merge_fields(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    error = only_error(await client.post(path(seeded, "/preview"), json={"message": "Hi {x}!"}))
    assert error["loc"] == ["body", "message"]
    assert error["type"] == "merge_field"


async def test_preview_flags_a_draft_out_of_limits(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    response = await client.post(path(seeded, "/preview"), json={"message": "Hi!"})
    assert response.status_code == 200
    assert response.json() == {
        "text": "Hi!",
        "characters": 3,
        "within_limit": False,
        "notes": [],
        "template_parameters": None,
    }


async def test_temporal_down_after_saving_is_still_saved_and_left_to_the_reconciler(
    settings: Settings,
    store: Store,
    seeded: Seeded,
    http: httpx.AsyncClient,
    temporal_down: Client,
) -> None:
    body = {"enabled": True, "expiry_hours": 2, "message": GOOD}
    down = build_app(settings, store=store, temporal=temporal_down, http=http)
    async with asgi_client(down) as broken:
        response = await broken.put(path(seeded), json=body)
        # Nobody has to save again: the version waits for the worker's reconciler.
        assert response.status_code == 200, response.text
        assert response.json()["delivery"]["status"] == "deferred"
        assert (await broken.get(path(seeded))).json()["expiry_hours"] == 2
    assert await store.settings.undelivered() == [(seeded.account_id, 1)]
