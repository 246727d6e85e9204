"""What routes may depend on, as typed ``Annotated[..., Depends(...)]`` aliases.

Who is calling (``Principal``: the API token, or one account's token) is put into the request
by ``api.guard``; ``get_principal``, ``require_admin`` and ``ScopedAccountId`` / ``AccountDep``
decide what that caller may reach (docs/http-api.md#authentication).

Everything long-lived (store, Temporal client, httpx client, metrics, settings) lives on
``app.state`` — put there by the lifespan in ``api.app`` (``boot.Resources``) or handed to
``create_app(resources=…)`` by tests — and is reached only through these functions, never
through module globals.
"""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api.errors import ServiceUnavailable
from api.guard import UNAUTHORIZED_DETAIL, Principal, principal_of
from api.ingest_cache import IngestCache
from api.metrics import Metrics
from boot import Resources
from core.config import Settings
from core.identity import CustomerIdentity, parse_customer_id
from core.vocabulary import (
    ACCOUNT_ID_PATTERN,
    ACCOUNT_ID_RULE,
    CUSTOMER_ID_PATTERN,
    CUSTOMER_ID_RULE,
)
from store.records import Account
from store.repository import Store

# The dependencies below are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency
# in a thread pool, and those thread hops were a sixth of the webhook path's CPU (bench/ingest).


def resources_of(request: Request) -> Resources:
    """The app's resources, or 503 while the lifespan is still opening them."""
    resources = getattr(request.app.state, "resources", None)
    if not isinstance(resources, Resources):
        # Only between process start and the end of the lifespan's start-up.
        raise ServiceUnavailable("api", "the service is starting, retry later")
    return resources


async def get_resources(request: Request) -> Resources:
    return resources_of(request)


async def get_settings(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


async def get_metrics(request: Request) -> Metrics:
    metrics = request.app.state.metrics
    assert isinstance(metrics, Metrics)
    return metrics


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


async def get_ingest_cache(request: Request) -> IngestCache:
    cache = request.app.state.ingest_cache
    assert isinstance(cache, IngestCache)
    return cache


IngestCacheDep = Annotated[IngestCache, Depends(get_ingest_cache)]


async def get_store(resources: ResourcesDep) -> Store:
    return resources.store


async def get_temporal(resources: ResourcesDep) -> Client:
    return resources.temporal


async def get_http(resources: ResourcesDep) -> httpx.AsyncClient:
    return resources.http


StoreDep = Annotated[Store, Depends(get_store)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
HttpDep = Annotated[httpx.AsyncClient, Depends(get_http)]

# Declared so that OpenAPI shows the security scheme; the token itself is checked by
# api.guard.RequestGuard before the body is read (a dependency would run after FastAPI has
# parsed it). auto_error=False: this declaration never answers anything itself.
_bearer = HTTPBearer(
    auto_error=False, description="API_TOKEN, or an account token (wst_…) for one account"
)


async def get_principal(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Who the guard authenticated; 401 if it did not run for this request (fail closed)."""
    principal = principal_of(request.scope)
    if principal is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=UNAUTHORIZED_DETAIL,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


ADMIN_ONLY = "an account token cannot do this: it needs the API token"


async def require_admin(principal: PrincipalDep) -> Principal:
    """403 for an account token: this route is for the service's API token only."""
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=ADMIN_ONLY)
    return principal


AccountIdPath = Annotated[
    str, Path(pattern=ACCOUNT_ID_PATTERN, description=ACCOUNT_ID_RULE, examples=["acme"])
]
# Named ``wa_id`` in paths since the first version; a BSUID is accepted there too.
WaIdPath = Annotated[
    str,
    Path(
        pattern=CUSTOMER_ID_PATTERN,
        description=CUSTOMER_ID_RULE,
        examples=["15551234567", "US.13491208655302741918"],
    ),
]


def customer_identity(wa_id: WaIdPath) -> CustomerIdentity:
    """The customer the path names (the pattern has already admitted it)."""
    return parse_customer_id(wa_id)


CustomerIdentityDep = Annotated[CustomerIdentity, Depends(customer_identity)]


def account_not_found(account_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"account {account_id!r} not found")


async def scoped_account_id(account_id: AccountIdPath, principal: PrincipalDep) -> str:
    """The account id of the path, if the caller may see it; else the same 404 as a missing
    account (an account token cannot tell another account from none)."""
    if not principal.reaches(account_id):
        raise account_not_found(account_id)
    return account_id


ScopedAccountId = Annotated[str, Depends(scoped_account_id)]


async def get_account(account_id: ScopedAccountId, store: StoreDep) -> Account:
    """The account named in the path, or 404 (also for another account's token)."""
    account = await store.accounts.get(account_id=account_id)
    if account is None:
        raise account_not_found(account_id)
    return account


AccountDep = Annotated[Account, Depends(get_account)]
