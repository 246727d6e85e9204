"""What routes may depend on, as typed ``Annotated[..., Depends(...)]`` aliases.

Everything long-lived (store, Temporal client, httpx client, metrics, settings) lives on
``app.state`` — put there by the lifespan in ``api.app`` (``boot.Resources``) or handed to
``create_app(resources=…)`` by tests — and is reached only through these functions, never
through module globals.
"""

from __future__ import annotations

import hmac
from typing import Annotated

import httpx
from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api.errors import ServiceUnavailable
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

# auto_error=False: a missing header must answer 401 with WWW-Authenticate (FastAPI's own
# HTTPBearer answers 403 in some versions); declared so OpenAPI shows the security scheme.
_bearer = HTTPBearer(auto_error=False, description="API_TOKEN")


async def require_api_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse a request without ``Authorization: Bearer <API_TOKEN>`` (constant-time compare)."""
    expected = settings.api_token.get_secret_value().encode()
    given = b"" if credentials is None else credentials.credentials.encode()
    if not expected or not hmac.compare_digest(given, expected):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or invalid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


AuthDep = Annotated[None, Depends(require_api_token)]

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


async def get_account(account_id: AccountIdPath, store: StoreDep) -> Account:
    """The account named in the path, or 404."""
    account = await store.accounts.get(account_id=account_id)
    if account is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"account {account_id!r} not found")
    return account


AccountDep = Annotated[Account, Depends(get_account)]
