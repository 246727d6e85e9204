"""Account tokens: bearer tokens that reach one account only (docs/http-api.md#authentication).

Managed with the API token alone (an account token gets 403 here, even for its own account).
A new token is answered once and stored as its SHA-256 (``core.api_tokens``); revoking keeps
the row, and the guard refuses the token from the next request on.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response, status

from api.deps import AccountDep, StoreDep, require_admin
from api.schemas import TokenCreated, TokenIn, TokenList, TokenOut
from core.api_tokens import TOKEN_ID_PATTERN, new_token, new_token_id, token_hash
from store.errors import AccountNotFound

router = APIRouter(
    prefix="/accounts/{account_id}/tokens",
    tags=["account tokens"],
    dependencies=[Depends(require_admin)],
    responses={403: {"description": "an account token (managing tokens needs the API token)"}},
)

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such account"}}

TokenIdPath = Annotated[str, Path(pattern=TOKEN_ID_PATTERN, examples=["tok_3f9a0c1d2e4b5a69"])]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    responses=_NOT_FOUND,
)
async def create_token(
    account: AccountDep, store: StoreDep, body: TokenIn | None = None
) -> TokenCreated:
    """A new token for this account; the answer is the only place it is ever shown."""
    token = new_token()
    try:
        created = await store.tokens.create(
            account_id=account.account_id,
            token_id=new_token_id(),
            token_hash=token_hash(token),
            label=None if body is None else body.label,
        )
    except AccountNotFound:  # deleted since the lookup
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="account not found") from None
    return TokenCreated(**TokenOut.of(created).model_dump(), token=token)


@router.get("", response_model=TokenList, responses=_NOT_FOUND)
async def list_tokens(account: AccountDep, store: StoreDep) -> TokenList:
    """The account's tokens, revoked ones included, oldest first (ids only, never a token)."""
    tokens = await store.tokens.list(account_id=account.account_id)
    return TokenList(items=[TokenOut.of(token) for token in tokens])


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={404: {"description": "no such account, or no such token of it"}},
)
async def revoke_token(account: AccountDep, token_id: TokenIdPath, store: StoreDep) -> Response:
    """Revoke a token (again: a no-op); it is refused from the next request on."""
    revoked = await store.tokens.revoke(account_id=account.account_id, token_id=token_id)
    if revoked is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"token {token_id!r} not found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
