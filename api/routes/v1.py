"""The management API under ``/v1``: every route here needs ``Authorization: Bearer``.

The token check is a dependency of this parent router, so a new topic router cannot forget it.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import require_api_token
from api.routes import accounts, reminders, sessions, settings

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(require_api_token)],
    responses={401: {"description": "missing or wrong bearer token"}},
)
router.include_router(accounts.router)
router.include_router(settings.router)
router.include_router(sessions.router)
router.include_router(reminders.router)
