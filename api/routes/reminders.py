"""The reminder audit trail of an account, newest decision first, cursor-paginated.

Only decisions are listed: records still ``pending`` (a worker is sending) or ``retrying`` (the
send will be attempted again) are in-flight idempotency records, not decisions, and their
outcome is outside the vocabulary clients rely on. They show up, with their final outcome and
at the top of the list, as soon as the send is decided — normally within seconds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.customers import find_customer
from api.deps import AccountDep, SettingsDep, StoreDep
from api.schemas import ReminderList, ReminderOut
from core.identity import parse_customer_id
from core.vocabulary import CUSTOMER_ID_PATTERN, CUSTOMER_ID_RULE, DECISIONS
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
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="`next` of a page")] = None,
    wa_id: Annotated[
        str | None,
        Query(pattern=CUSTOMER_ID_PATTERN, description=f"one customer: {CUSTOMER_ID_RULE}"),
    ] = None,
) -> ReminderList:
    """Every reminder decision (sent / skipped / failed …), newest first."""
    conversation_key = None
    if wa_id is not None:
        customer = await find_customer(
            store,
            secret=settings.conversation_key_secret.get_secret_value(),
            account_id=account.account_id,
            identity=parse_customer_id(wa_id),
        )
        conversation_key = customer.conversation_key
    items: list[ReminderOut] = []
    next_cursor = cursor
    for _ in range(MAX_PAGE_READS):
        try:
            # Whole store pages are consumed, so the store's cursor stays exact.
            page = await store.reminders.page(
                account_id=account.account_id,
                limit=limit - len(items),
                cursor=next_cursor,
                conversation_key=conversation_key,
            )
        except InvalidCursor:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, detail="invalid pagination cursor"
            ) from None
        decided = [record for record in page.items if record.outcome in DECISIONS]
        contacts = await store.contacts.by_keys(
            account_id=account.account_id,
            conversation_keys=sorted({record.conversation_key for record in decided}),
        )
        items += [ReminderOut.of(r, contacts.get(r.conversation_key)) for r in decided]
        next_cursor = page.next_cursor
        if next_cursor is None or len(items) >= limit:
            break
    return ReminderList(items=items, next=next_cursor)
