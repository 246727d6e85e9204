"""Sessions of an account, read from Temporal: the list from visibility, one live by query.

Each workflow run is one session (docs/sessions.md). The list reads the run's search attributes
(``SessionState``, ``LastCustomerMessageAt``, ``ReminderDueAt``, ``WindowClosesAt``), maps each
conversation key back to the customer (number, BSUID, username, and whether they opted out)
through the stored contacts, and takes the reminder outcome from the audit trail (the
conversation's newest record, if it was decided during that run). One session is asked
directly (``ConversationWorkflow.session`` query); when no worker answers in time, or the run is
closed, its search attributes stand in (``live: false``).

The one session's run is described by ``api.workflow_runs.describe_run``, which survives a
search attribute that comes back null.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError, RPCStatusCode

from api.customers import find_customer
from api.deps import AccountDep, CustomerIdentityDep, SettingsDep, StoreDep, TemporalDep
from api.errors import temporal_call
from api.schemas import SessionList, SessionOut, customer_names
from api.workflow_runs import Run, describe_run
from core import temporal_names as names
from core import visibility
from core.config import Settings
from core.identity import CustomerIdentity
from core.vocabulary import DECISIONS, SessionState
from store.records import Contact, ReminderRecord
from workflows.conversation import ConversationWorkflow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/accounts/{account_id}/sessions", tags=["sessions"])

_STATES = frozenset(state.value for state in SessionState)

# How long a session query waits for a worker before the search attributes stand in.
QUERY_TIMEOUT = timedelta(seconds=3)


def _ui_url(settings: Settings, *, namespace: str, workflow_id: str, run_id: str) -> str:
    return names.web_ui_url(
        settings.temporal_ui_url, namespace=namespace, workflow_id=workflow_id, run_id=run_id
    )


def _outcome_for_run(
    record: ReminderRecord | None, *, started: datetime, closed: datetime | None
) -> str | None:
    """The audit record's outcome if it was decided during this run (and is a decision)."""
    if record is None or record.outcome not in DECISIONS:
        return None
    if record.decided_at < started or (closed is not None and record.decided_at > closed):
        return None
    return record.outcome


def _from_attributes(
    execution: Run,
    *,
    contact: Contact | None,
    identity: CustomerIdentity | None = None,
    key: str,
    record: ReminderRecord | None,
    ui_url: str,
) -> SessionOut:
    attributes = execution.attributes
    running = execution.status == WorkflowExecutionStatus.RUNNING
    raw_state = attributes.get(names.SESSION_STATE)
    if not running:
        state = SessionState.EXPIRED
    elif raw_state is not None and raw_state in _STATES:
        state = SessionState(raw_state)
    else:
        # Started, but its first workflow task has not published a state yet.
        state = SessionState.WAITING
    return SessionOut(
        **customer_names(contact, identity),
        state=state,
        last_customer_message_at=attributes.get(names.LAST_CUSTOMER_MESSAGE_AT),
        reminder_due_at=attributes.get(names.REMINDER_DUE_AT) if running else None,
        window_closes_at=attributes.get(names.WINDOW_CLOSES_AT),
        reminder_outcome=_outcome_for_run(
            record, started=execution.start_time, closed=execution.close_time
        ),
        temporal_ui_url=ui_url,
        workflow_id=execution.workflow_id,
        run_id=execution.run_id,
        conversation_key=key,
        running=running,
        live=False,
        opted_out=None if contact is None else contact.opted_out,
    )


@router.get(
    "",
    response_model=SessionList,
    responses={501: {"description": "this Temporal server offers no visibility queries"}},
)
async def list_sessions(
    account: AccountDep,
    temporal: TemporalDep,
    store: StoreDep,
    settings: SettingsDep,
    state: Annotated[SessionState | None, Query(description="only sessions in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> SessionList:
    """Sessions (one per workflow run) with state, T, due time, window close and outcome."""
    query = (
        visibility.account_runs(account.account_id)
        if state is None
        else visibility.sessions_in_state(state, account_id=account.account_id)
    )
    executions = await _list(temporal, query, limit)
    keys = {
        execution.id: key
        for execution in executions
        if (key := names.conversation_key_of(execution.id, account_id=account.account_id))
        is not None
    }
    contacts = await store.contacts.by_keys(
        account_id=account.account_id, conversation_keys=sorted(set(keys.values()))
    )
    records: Mapping[str, ReminderRecord] = await store.reminders.latest_by_key(
        account_id=account.account_id, conversation_keys=sorted(set(keys.values()))
    )
    items = []
    for execution in executions:
        key = keys.get(execution.id)
        if key is None:
            continue  # carries the account's attribute but is not a conversation workflow
        contact = contacts.get(key)
        items.append(
            _from_attributes(
                Run.of(execution),
                contact=contact,
                key=key,
                record=records.get(key),
                ui_url=_ui_url(
                    settings,
                    namespace=temporal.namespace,
                    workflow_id=execution.id,
                    run_id=execution.run_id,
                ),
            )
        )
    return SessionList(items=items)


async def _list(temporal: Client, query: str, limit: int) -> list[WorkflowExecution]:
    with temporal_call():
        try:
            return [execution async for execution in temporal.list_workflows(query, limit=limit)]
        except RPCError as err:
            if err.status != RPCStatusCode.UNIMPLEMENTED:
                raise
    raise HTTPException(
        status.HTTP_501_NOT_IMPLEMENTED,
        detail="this Temporal server offers no visibility queries (time-skipping test server?)",
    )


@router.get(
    "/{wa_id}",
    response_model=SessionOut,
    responses={404: {"description": "no such account, or no session for this customer"}},
)
async def get_session(
    account: AccountDep,
    identity: CustomerIdentityDep,
    temporal: TemporalDep,
    store: StoreDep,
    settings: SettingsDep,
) -> SessionOut:
    """One session, live from its workflow, with a link to it in the Temporal Web UI."""
    customer = await find_customer(
        store,
        secret=settings.conversation_key_secret.get_secret_value(),
        account_id=account.account_id,
        identity=identity,
    )
    key = customer.conversation_key
    workflow_id = names.conversation_workflow_id(
        account_id=account.account_id, conversation_key=key
    )
    with temporal_call():
        try:
            run = await describe_run(temporal, workflow_id)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, detail="no session for this customer"
            ) from None
    ui_url = _ui_url(
        settings,
        namespace=temporal.namespace,
        workflow_id=workflow_id,
        run_id=run.run_id,
    )
    if run.status == WorkflowExecutionStatus.RUNNING:
        handle = temporal.get_workflow_handle_for(
            ConversationWorkflow.run, workflow_id, run_id=run.run_id
        )
        try:
            snapshot = await handle.query(ConversationWorkflow.session, rpc_timeout=QUERY_TIMEOUT)
        except (
            WorkflowQueryFailedError,
            WorkflowQueryRejectedError,
            RPCError,
            RPCTimeoutOrCancelledError,
        ) as err:
            logger.info("session %s: query failed (%s); using attributes", key, type(err).__name__)
        else:
            return SessionOut(
                **customer_names(customer.contact, customer.identity),
                state=snapshot.state,
                last_customer_message_at=snapshot.last_customer_message_at,
                reminder_due_at=snapshot.reminder_due_at,
                window_closes_at=snapshot.window_closes_at,
                reminder_outcome=(
                    None if snapshot.reminder_outcome is None else snapshot.reminder_outcome.value
                ),
                temporal_ui_url=ui_url,
                workflow_id=workflow_id,
                run_id=run.run_id,
                conversation_key=key,
                running=True,
                live=True,
                opted_out=None if customer.contact is None else customer.contact.opted_out,
                template_due_at=snapshot.template_due_at,
                reminder_replied_at=snapshot.reminder_replied_at,
            )
    records = await store.reminders.latest_by_key(
        account_id=account.account_id, conversation_keys=[key]
    )
    return _from_attributes(
        run,
        contact=customer.contact,
        identity=customer.identity,
        key=key,
        record=records.get(key),
        ui_url=ui_url,
    )
