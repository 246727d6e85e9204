"""Session settings of an account: read, save (and deliver), preview (docs/sessions.md).

The settings are one document (docs/http-api.md#session-settings): ``PUT`` replaces all of it,
quiet hours, keywords and template included, and the preview renders the message and the
template's parameters with the reminder's own renderer.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, status

from api.deps import (
    AccountDep,
    IngestCacheDep,
    MetricsDep,
    ResourcesDep,
    SettingsDep,
    StoreDep,
)
from api.errors import ServiceUnavailable, temporal_call
from api.schemas import (
    DeliveryOut,
    PreviewIn,
    PreviewOut,
    SessionSettingsIn,
    SessionSettingsOut,
    SettingsSaved,
    validation_error,
)
from core.contract import SettingsDelivery
from core.identity import parse_customer_id
from core.merge_fields import (
    SAMPLE_VALUES,
    MergeValues,
    UnknownMergeField,
    merge_values,
    render,
    uses_field,
    validate_template,
)
from core.reach import flatten_parameter
from core.temporal import deliver_settings
from core.temporal_names import settings_workflow_id
from core.vocabulary import MAX_MESSAGE_LENGTH, MIN_MESSAGE_LENGTH
from store.errors import AccountNotFound

logger = logging.getLogger(__name__)

# Customers with a WhatsApp username may hide their number: Meta then names them by BSUID only.
NO_NUMBER_NOTE = (
    "{contact_phone} is empty for customers who hide their number behind a WhatsApp username "
    "(Meta then gives only their BSUID)."
)

router = APIRouter(prefix="/accounts/{account_id}/session-settings", tags=["session settings"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such account (or, for a preview, no such contact)"}
}


@router.get("", response_model=SessionSettingsOut, responses=_NOT_FOUND)
async def get_session_settings(account: AccountDep, store: StoreDep) -> SessionSettingsOut:
    """The account's reminder settings (the defaults until first saved)."""
    record = await store.settings.get(account_id=account.account_id)
    return SessionSettingsOut.of(record)


@router.put("", response_model=SettingsSaved, responses=_NOT_FOUND)
async def put_session_settings(
    account: AccountDep,
    body: SessionSettingsIn,
    resources: ResourcesDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    cache: IngestCacheDep,
) -> SettingsSaved:
    """Validate and save the settings; every running session of the account will learn them."""
    store = resources.store
    message = body.message
    if message is None:
        if body.enabled:
            raise validation_error(
                ("body", "message"), "message is required when reminders are enabled", "missing"
            )
        # Disabling without a message keeps the saved one (the column is never empty).
        message = (await store.settings.get(account_id=account.account_id)).message
    try:
        record = await store.settings.save(
            account_id=account.account_id,
            enabled=body.enabled,
            expiry_hours=body.expiry_hours,
            message=message,
            changed_by="api",
            quiet_hours=body.quiet_hours,
            timezone=body.timezone,
            opt_out_keywords=body.opt_out_keywords,
            opt_in_keywords=body.opt_in_keywords,
            fallback_template=body.fallback_template,
            message_prices=body.message_prices,
        )
    except AccountNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="account not found") from None
    # This process's webhooks use the new keywords at once; other processes within
    # KEYWORDS_TTL (api/ingest_cache.py).
    cache.forget_keywords(account.account_id)
    # Committed with its version: from here on, delivery is durable. Starting it now is the
    # fast path; when Temporal cannot be reached, the worker's reconciler starts it instead.
    delivery = SettingsDelivery(account_id=account.account_id, version=record.version)
    try:
        with temporal_call():
            await deliver_settings(
                resources.temporal, task_queue=settings.temporal_task_queue, delivery=delivery
            )
        started = "started"
    except ServiceUnavailable as err:
        logger.warning(
            "settings v%d of %s saved; delivery left to the reconciler (%s)",
            record.version,
            account.account_id,
            type(err.__cause__).__name__,
        )
        started = "deferred"
    metrics.settings_deliveries.labels(started).inc()
    return SettingsSaved(
        settings=SessionSettingsOut.of(record),
        delivery=DeliveryOut(
            status=started,
            version=record.version,
            workflow_id=settings_workflow_id(account.account_id),
        ),
    )


@router.post("/preview", response_model=PreviewOut, responses=_NOT_FOUND)
async def preview_message(account: AccountDep, body: PreviewIn, store: StoreDep) -> PreviewOut:
    """Render a message (and the template's parameters) for a sample contact, an ad-hoc contact
    or a stored one."""
    template = body.message
    parameters = body.template_parameters
    if template is None or parameters is None:
        saved = await store.settings.get(account_id=account.account_id)
        if template is None:
            template = saved.message
        if parameters is None and saved.fallback_template is not None:
            parameters = list(saved.fallback_template.body_parameters)
    try:
        validate_template(template)
    except UnknownMergeField as err:
        raise validation_error(("body", "message"), str(err), "merge_field") from None
    for index, parameter in enumerate(parameters or ()):
        try:
            validate_template(parameter)
        except UnknownMergeField as err:
            raise validation_error(
                ("body", "template_parameters", index), str(err), "merge_field"
            ) from None
    values = await _preview_values(account.company_name, account.account_id, body, store)
    text = render(template, values)
    notes = []
    if uses_field(template, "contact_phone"):
        notes.append(NO_NUMBER_NOTE)
    return PreviewOut(
        text=text,
        characters=len(text),
        within_limit=MIN_MESSAGE_LENGTH <= len(template) <= MAX_MESSAGE_LENGTH,
        notes=notes,
        # As the template will go out: rendered for this contact, then made acceptable to Meta.
        template_parameters=None
        if parameters is None
        else [flatten_parameter(render(parameter, values)) for parameter in parameters],
    )


async def _preview_values(
    company_name: str, account_id: str, body: PreviewIn, store: StoreDep
) -> MergeValues:
    if body.wa_id is not None:
        contact = await store.contacts.find(
            account_id=account_id, identity=parse_customer_id(body.wa_id)
        )
        if contact is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="contact not found")
        try:
            return contact.merge_values(company_name)
        except ValueError as err:  # a stored number that is not E.164 (webhooks do not check)
            raise validation_error(("body", "wa_id"), str(err), "phone_number") from None
    if body.contact is not None:
        given = body.contact
        return merge_values(
            first_name=given.first_name,
            last_name=given.last_name,
            email=given.email,
            profile_name=None,
            wa_id=given.wa_id or SAMPLE_VALUES.contact_phone,
            company_name=company_name,
        )
    return merge_values(
        first_name=SAMPLE_VALUES.contact_firstname,
        last_name=SAMPLE_VALUES.contact_lastname,
        email=SAMPLE_VALUES.contact_email,
        profile_name=None,
        wa_id=SAMPLE_VALUES.contact_phone,
        company_name=company_name,
    )
