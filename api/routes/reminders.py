"""The reminder audit trail of an account, newest decision first, cursor-paginated.

Only decisions are listed: records still ``pending`` (a worker is sending) or ``retrying`` (the
send will be attempted again) are in-flight idempotency records, not decisions, and their
outcome is outside the vocabulary clients rely on. They show up, with their final outcome and
at the top of the list, as soon as the send is decided — normally within seconds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import AccountDep, StoreDep
from api.schemas import ReminderList, ReminderOut
from core.vocabulary import DECISIONS, WA_ID_PATTERN
from store.errors import InvalidCursor

router = APIRouter(prefix="/accounts/{account_id}/reminders", tags=["reminders"])

# Store pages read to fill one page when in-flight records are skipped; a short page (with its
# cursor) is answered after that rather than scanning without bound.
MAX_PAGE_READS = 10


@router.get(
    "",
    response_model=ReminderList,
    responses={400: {"description": "invalid cursor"}, 404: {"description": "no such account"}},
)
async def list_reminders(
    account: AccountDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="`next` of a page")] = None,
    wa_id: Annotated[str | None, Query(pattern=WA_ID_PATTERN)] = None,
) -> ReminderList:
    """Every reminder decision (sent / skipped / failed …), newest first."""
    items: list[ReminderOut] = []
    next_cursor = cursor
    for _ in range(MAX_PAGE_READS):
        try:
            # Whole store pages are consumed, so the store's cursor stays exact.
            page = await store.reminders.page(
                account_id=account.account_id,
                limit=limit - len(items),
                cursor=next_cursor,
                wa_id=wa_id,
            )
        except InvalidCursor:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, detail="invalid pagination cursor"
            ) from None
        items += [ReminderOut.of(r) for r in page.items if r.outcome in DECISIONS]
        next_cursor = page.next_cursor
        if next_cursor is None or len(items) >= limit:
            break
    return ReminderList(items=items, next=next_cursor)
