"""Accounts (a business phone number and its credentials) and their contacts: merge-field data,
and the opt-out a customer also sets themselves by keyword (api.ingest)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response, status

from api.deps import (
    AccountDep,
    AccountIdPath,
    CustomerIdentityDep,
    IngestCacheDep,
    PrincipalDep,
    ResourcesDep,
    SettingsDep,
    StoreDep,
)
from api.schemas import AccountIn, AccountOut, ContactIn, ContactOut, validation_error
from core.conversation_key import new_conversation_key
from store.errors import AccountNotFound, PhoneNumberTaken

router = APIRouter(prefix="/accounts", tags=["accounts"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such account"}}
_NO_CONTACT: dict[int | str, dict[str, Any]] = {404: {"description": "no such account or contact"}}
ACCOUNT_TOKEN_CANNOT_CREATE = "an account token cannot create accounts: that needs the API token"


async def _writable_account_id(account_id: AccountIdPath, principal: PrincipalDep) -> str:
    """The account id of a PUT, if the caller may write it.

    A dependency, so that it answers before the body is validated. 403 for an account token
    naming any other account, whether or not that one exists: creating accounts is the API
    token's, and an account token must not learn which other accounts exist.
    """
    if not principal.reaches(account_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=ACCOUNT_TOKEN_CANNOT_CREATE)
    return account_id


@router.put(
    "/{account_id}",
    response_model=AccountOut,
    responses={
        201: {"description": "created", "model": AccountOut},
        403: {"description": "an account token naming another account (creating one)"},
        409: {"description": "phone_number_id belongs to another account"},
    },
)
async def put_account(
    account_id: Annotated[str, Depends(_writable_account_id)],
    body: AccountIn,
    store: StoreDep,
    cache: IngestCacheDep,
    response: Response,
) -> AccountOut:
    """Create (201) or update (200) an account; the access token is write-only."""
    token = None if body.access_token is None else body.access_token.get_secret_value()
    if token is None and await store.accounts.get(account_id=account_id) is None:
        raise _token_required()
    try:
        account, created = await store.accounts.upsert(
            account_id=account_id,
            company_name=body.company_name,
            phone_number_id=body.phone_number_id,
            access_token=token,
        )
    except PhoneNumberTaken:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"phone_number_id {body.phone_number_id} belongs to another account",
        ) from None
    except ValueError:
        # The account vanished between the check and the upsert (it needs a token again).
        raise _token_required() from None
    cache.forget_accounts()  # its number (or company name) may have changed
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return AccountOut.of(account)


def _token_required() -> Exception:
    return validation_error(
        ("body", "access_token"), "access_token is required to create an account", "missing"
    )


@router.get("/{account_id}", response_model=AccountOut, responses=_NOT_FOUND)
async def get_account(account: AccountDep) -> AccountOut:
    """The account, without its access token."""
    return AccountOut.of(account)


# The merge-field data a contact PUT replaces when it gives any of it.
_NAME_FIELDS = frozenset({"first_name", "last_name", "email"})


@router.put(
    "/{account_id}/contacts/{wa_id}",
    response_model=ContactOut,
    responses={201: {"description": "created", "model": ContactOut}, **_NOT_FOUND},
)
async def put_contact(
    account: AccountDep,
    identity: CustomerIdentityDep,
    body: ContactIn,
    store: StoreDep,
    settings: SettingsDep,
    resources: ResourcesDep,
    response: Response,
) -> ContactOut:
    """Create (201) or replace (200) a contact's merge-field data; opt them out or back in.

    A body with ``opted_out`` and none of the names only toggles the opt-out: the names stay.
    """
    key = new_conversation_key(
        secret=settings.conversation_key_secret.get_secret_value(),
        account_id=account.account_id,
        identity=identity,
    )
    existing = None
    if body.opted_out is not None and not body.model_fields_set & _NAME_FIELDS:
        existing = await store.contacts.find(account_id=account.account_id, identity=identity)
    if existing is not None:
        contact, created = existing, False
    else:
        try:
            contact, created = await store.contacts.upsert(
                account_id=account.account_id,
                identity=identity,
                new_key=key,
                first_name=body.first_name,
                last_name=body.last_name,
                email=body.email,
            )
        except AccountNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="account not found") from None
    if body.opted_out is not None:
        # As of now: a keyword message written later still wins, one written earlier (and
        # delivered late) does not undo this.
        opted = await store.contacts.set_opted_out(
            account_id=account.account_id,
            conversation_key=contact.conversation_key,
            opted_out=body.opted_out,
            at=resources.clock(),
        )
        assert opted is not None  # upserted just above; contacts are never deleted
        contact = opted
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return ContactOut.of(contact)


@router.get("/{account_id}/contacts/{wa_id}", response_model=ContactOut, responses=_NO_CONTACT)
async def get_contact(
    account: AccountDep, identity: CustomerIdentityDep, store: StoreDep
) -> ContactOut:
    """The contact a number or BSUID names: merge-field data, names and opt-out."""
    contact = await store.contacts.find(account_id=account.account_id, identity=identity)
    if contact is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="contact not found")
    return ContactOut.of(contact)
