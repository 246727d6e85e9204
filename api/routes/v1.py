"""The management API under ``/v1``: every route here needs ``Authorization: Bearer``.

``api.guard.RequestGuard`` authenticates the token before the body is read; the dependency of
this parent router reads who it found (and answers 401 if the guard did not run), so a new
topic router cannot forget it. What an account token may reach is decided per route through
``api.deps`` (``AccountDep`` and ``ScopedAccountId`` scope to its account, ``AdminDep`` refuses
it).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import get_principal
from api.guard import MAX_API_BODY_BYTES
from api.routes import accounts, analytics, reminders, sessions, settings, tokens

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(get_principal)],
    responses={
        401: {"description": "missing or wrong bearer token"},
        413: {"description": f"body larger than {MAX_API_BODY_BYTES} bytes"},
    },
)
router.include_router(accounts.router)
router.include_router(settings.router)
router.include_router(sessions.router)
router.include_router(reminders.router)
router.include_router(tokens.router)
router.include_router(analytics.router)
