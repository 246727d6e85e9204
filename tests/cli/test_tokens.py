"""``wa-sessions`` with an account token: it works for that account's commands, and says why
it does not for anything else (against a real API over HTTP)."""

from __future__ import annotations

import re

from tests.cli.conftest import Cli, unique_account


async def _account(cli: Cli, account_id: str) -> None:
    await cli.ok(
        "--account",
        account_id,
        "accounts",
        "create",
        account_id,
        "--company",
        "Acme",
        "--phone-number-id",
        unique_account()[1],
        "--access-token",
        "EAAG-secret",
    )


async def _new_token(cli: Cli) -> tuple[str, str]:
    out = await cli.ok("tokens", "create", "--label", "shop backend")
    token = re.search(r"\bwst_[A-Za-z0-9_-]+", out)
    token_id = re.search(r"\btok_[0-9a-f]+", out)
    assert token and token_id, out
    assert "not shown again" in out
    return token.group(), token_id.group()


async def test_an_account_token_runs_its_accounts_commands(cli: Cli) -> None:
    await _account(cli, cli.account)
    token, token_id = await _new_token(cli)
    listed = await cli.ok("tokens", "list")
    assert token_id in listed and "active" in listed and "shop backend" in listed
    assert token not in listed

    tenant = Cli(api_url=cli.api_url, account=cli.account, token=token)
    assert cli.account in await tenant.ok("accounts", "show")
    saved = await tenant.ok("settings", "--enable", "--hours", "3")
    assert "Settings saved successfully" in saved
    assert "3" in await tenant.ok("settings")
    await tenant.ok("reminders")

    # Another account does not exist for it; tokens and new accounts are the API token's.
    other, _ = unique_account()
    await _account(cli, other)
    shown = await tenant.run("accounts", "show", other)
    assert shown.exit_code == 1 and "404" in shown.stderr
    for args in (
        ("tokens", "list"),
        (
            "accounts",
            "create",
            "brand-new",
            "--company",
            "X",
            "--phone-number-id",
            "99",
            "--access-token",
            "t",
        ),
    ):
        refused = await tenant.run(*args)
        assert refused.exit_code == 1, args
        assert "403" in refused.stderr and "API token" in refused.stderr
        assert "Traceback" not in refused.output

    assert f"Token {token_id} revoked." in await cli.ok("tokens", "revoke", token_id)
    assert "revoked" in await cli.ok("tokens", "list")
    after = await tenant.run("accounts", "show")
    assert after.exit_code == 1
    assert "401" in after.stderr and "account token" in after.stderr
