"""Routes of the operator pages: ``/``, ``/sessions``, ``/outbox``, ``/analytics`` and their
static assets.

The HTML holds no data, so loading a page needs no token; the page's JS signs in and reads the
JSON API. Pages are sent with a strict Content-Security-Policy (scripts and styles only from
this origin, no inline code), which the templates respect. Static files are served from memory
by one route (rather than a ``StaticFiles`` mount, which older FastAPI versions drop from an
included router), under URLs carrying a content hash so browsers never run stale JS.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jinja2
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.pages import outbox
from core.merge_fields import MERGE_FIELDS, SAMPLE_VALUES
from core.quiet_hours import known_timezones
from core.reach import MAX_KEYWORDS, MAX_TEMPLATE_PARAMETER_LENGTH, MAX_TEMPLATE_PARAMETERS
from core.vocabulary import (
    ACCOUNT_ID_PATTERN,
    MAX_EXPIRY_HOURS,
    MAX_MESSAGE_LENGTH,
    MIN_EXPIRY_HOURS,
    MIN_MESSAGE_LENGTH,
    SessionState,
)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/static/pages"
DEFAULT_ACCOUNT = "demo"

# The pages load nothing from elsewhere (offline machines, no CDN) and run no inline code.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    content: bytes
    media_type: str
    version: str


def _load_assets(directory: Path) -> dict[str, Asset]:
    assets = {}
    for path in sorted(directory.iterdir()):
        if path.is_file():
            content = path.read_bytes()
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if media_type.startswith("text/") or media_type.endswith("javascript"):
                media_type += "; charset=utf-8"
            version = hashlib.sha256(content).hexdigest()[:12]
            assets[path.name] = Asset(content=content, media_type=media_type, version=version)
    return assets


ASSETS = _load_assets(STATIC_DIR)
templates = Jinja2Templates(
    env=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
)


def asset_url(name: str) -> str:
    """The versioned URL of a static asset (a KeyError for a missing file fails loudly)."""
    return f"{STATIC_PREFIX}/{name}?v={ASSETS[name].version}"


templates.env.globals["asset_url"] = asset_url

router = APIRouter()
router.include_router(outbox.router)

AccountQuery = Annotated[
    str,
    Query(pattern=ACCOUNT_ID_PATTERN, description="the account the page shows"),
]


def _page(request: Request, template: str, account: str, **context: object) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        template,
        {"account": account, "page": template.removesuffix(".html"), **context},
        headers=PAGE_HEADERS,
    )
    assert isinstance(response, HTMLResponse)
    return response


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def settings_page(request: Request, account: AccountQuery = DEFAULT_ACCOUNT) -> HTMLResponse:
    """The session-settings page of an account."""
    return _page(
        request,
        "settings.html",
        account,
        merge_fields=[f"{{{name}}}" for name in MERGE_FIELDS],
        sample=SAMPLE_VALUES,
        min_hours=MIN_EXPIRY_HOURS,
        max_hours=MAX_EXPIRY_HOURS,
        min_length=MIN_MESSAGE_LENGTH,
        max_length=MAX_MESSAGE_LENGTH,
        # The time-zone picker offers exactly the names the API accepts.
        timezones=sorted(known_timezones()),
        max_keywords=MAX_KEYWORDS,
        max_parameters=MAX_TEMPLATE_PARAMETERS,
        max_parameter_length=MAX_TEMPLATE_PARAMETER_LENGTH,
    )


@router.get("/sessions", response_class=HTMLResponse, include_in_schema=False)
async def sessions_page(request: Request, account: AccountQuery = DEFAULT_ACCOUNT) -> HTMLResponse:
    """The sessions of an account and its reminder audit trail."""
    return _page(request, "sessions.html", account, states=[state.value for state in SessionState])


@router.get("/outbox", response_class=HTMLResponse, include_in_schema=False)
async def outbox_page(request: Request, account: AccountQuery = DEFAULT_ACCOUNT) -> HTMLResponse:
    """What the sandbox Graph API received (sandbox mode)."""
    return _page(request, "outbox.html", account)


@router.get("/analytics", response_class=HTMLResponse, include_in_schema=False)
async def analytics_page(request: Request, account: AccountQuery = DEFAULT_ACCOUNT) -> HTMLResponse:
    """Does it pay: windows saved by reminders, the delivery funnel and the cost, by day.

    The range (``from``/``to`` in the query) is read by the page's script, which passes it to
    the analytics API as it is: the API is the one place that validates it.
    """
    return _page(request, "analytics.html", account)


@router.get(STATIC_PREFIX + "/{name}", include_in_schema=False)
async def static_asset(name: str) -> Response:
    """One file of ``api/pages/static`` (by exact name: no paths, no directory listing)."""
    asset = ASSETS.get(name)
    if asset is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such asset")
    return Response(
        asset.content,
        media_type=asset.media_type,
        headers={
            "Cache-Control": "public, max-age=86400",
            "X-Content-Type-Options": "nosniff",
        },
    )
