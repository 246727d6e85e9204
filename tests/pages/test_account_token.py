"""The pages with an account token: every API call their scripts make works for its own account
(against the real app served over HTTP), the sign-in form asks for either token, and another
account looks like one that does not exist."""

from __future__ import annotations

import re

import httpx

from api.pages.router import ASSETS
from tests.pages.conftest import Site

# ``api("PUT", `${base}/session-settings`, payload)`` and ``api("GET", base)`` in the scripts.
CALL = re.compile(r'api\("([A-Z]+)", (?:`([^`]*)`|(base))')
BODIES = {
    "PUT": {"enabled": True, "expiry_hours": 4, "message": "Hi {contact_firstname}, still there?"},
    "POST": {"message": "Hi {contact_firstname}, still there?"},
}


def page_calls(account_id: str) -> list[tuple[str, str]]:
    """Every (method, path) the pages' scripts call, with this account's base path."""
    calls = set()
    for name, asset in ASSETS.items():
        if not name.endswith(".js"):
            continue
        for method, template, bare in CALL.findall(asset.content.decode()):
            path = "${base}" if bare else template
            path = path.replace("${base}", f"/v1/accounts/{account_id}")
            path = re.sub(r"\$\{[^}]*\}", "", path).rstrip("?")
            calls.add((method, path))
    return sorted(calls)


async def test_an_account_token_works_for_every_call_of_the_pages(site: Site) -> None:
    created = await site.api.post(f"/v1/accounts/{site.account_id}/tokens")
    assert created.status_code == 201
    tenant = {"Authorization": f"Bearer {created.json()['token']}"}
    calls = page_calls(site.account_id)
    base = f"/v1/accounts/{site.account_id}"
    assert {("GET", base), ("PUT", f"{base}/session-settings"), ("GET", f"{base}/reminders")} <= (
        set(calls)
    )
    async with httpx.AsyncClient(base_url=site.url, headers=tenant) as client:
        for method, path in calls:
            response = await client.request(method, path, json=BODIES.get(method))
            if path.startswith("/v1/sandbox/"):
                # Every account's messages: the outbox page says it needs the API token.
                assert response.status_code == 403, response.text
            elif path == f"{base}/sessions":
                # Reached: the time-skipping server just has no visibility list.
                assert response.status_code == 501, response.text
            else:
                assert response.status_code == 200, (method, path, response.text)
        saved = await client.get(f"{base}/session-settings")
        assert saved.json()["expiry_hours"] == 4

        # Signing in to another account's page: "does not exist", as for a missing account.
        other = await client.get("/v1/accounts/demo-other")
        assert other.status_code == 404
        assert other.json() == {"detail": "account 'demo-other' not found"}


async def test_the_sign_in_form_asks_for_either_token(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as client:
        html = (await client.get("/", params={"account": site.account_id})).text
    assert "API token or account token" in html
    assert "account token (<code>wst_…</code>) of this account" in html
    assert "Enter the API token or an account token." in ASSETS["common.js"].content.decode()
    assert "result.status === 403" in ASSETS["outbox.js"].content.decode()
