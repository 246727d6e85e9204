"""One workflow run as the session routes read it, described without the SDK's eager decoding.

``WorkflowHandle.describe()`` decodes every search attribute at once and raises ``TypeError``
on a Datetime attribute that comes back null (the time-skipping test server answers an unset
attribute that way), losing the whole description. ``describe_run`` makes the same
``DescribeWorkflowExecution`` call through the client's public ``workflow_service`` and decodes
the attributes one by one, so one bad value costs that attribute, never the answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import SearchAttributes
from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
)
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.converter import decode_typed_search_attributes
from temporalio.converter import default as default_converter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    """What the session routes read of one workflow run."""

    workflow_id: str
    run_id: str
    status: WorkflowExecutionStatus | None
    start_time: datetime
    close_time: datetime | None
    attributes: TypedSearchAttributes

    @classmethod
    def of(cls, execution: WorkflowExecution) -> Run:
        return cls(
            workflow_id=execution.id,
            run_id=execution.run_id,
            status=execution.status,
            start_time=execution.start_time,
            close_time=execution.close_time,
            attributes=execution.typed_search_attributes,
        )


def decode_attributes(raw: SearchAttributes) -> TypedSearchAttributes:
    """The typed search attributes of ``raw``, leaving out any that is null or does not decode.

    A null value means "unset" (the time-skipping test server can answer an unset attribute
    with a null payload still typed ``Datetime``), and the SDK's decoder raises ``TypeError`` on
    it rather than leaving it out. Each attribute is therefore decoded on its own with the SDK's
    public ``decode_typed_search_attributes``, so one bad value costs that attribute, never the
    answer: unknown encoding (KeyError, RuntimeError), wrong type or unparseable date
    (TypeError, ValueError).
    """
    payloads = default_converter().payload_converter
    pairs: list[SearchAttributePair[Any]] = []
    for name, payload in raw.indexed_fields.items():
        try:
            if payloads.from_payload(payload) is None:
                continue  # unset
            pairs.extend(
                decode_typed_search_attributes(SearchAttributes(indexed_fields={name: payload}))
            )
        except (KeyError, RuntimeError, TypeError, ValueError) as err:
            logger.warning(
                "search attribute %s: undecodable (%s); left out", name, type(err).__name__
            )
    return TypedSearchAttributes(pairs)


def run_of(description: DescribeWorkflowExecutionResponse) -> Run:
    info = description.workflow_execution_info
    return Run(
        workflow_id=info.execution.workflow_id,
        run_id=info.execution.run_id,
        status=WorkflowExecutionStatus(info.status) if info.status else None,
        start_time=info.start_time.ToDatetime(tzinfo=UTC),
        close_time=info.close_time.ToDatetime(tzinfo=UTC) if info.HasField("close_time") else None,
        attributes=decode_attributes(info.search_attributes),
    )


async def describe_run(temporal: Client, workflow_id: str) -> Run:
    """The latest run of ``workflow_id``; RPCError (NOT_FOUND when there is none) as the SDK's.

    What the raw call skips of ``describe()``: the client's interceptors (none are configured,
    ``core.temporal.connect``), the memo and the user metadata, none of which the routes read.
    """
    response = await temporal.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=temporal.namespace, execution=ExecutionRef(workflow_id=workflow_id)
        ),
        retry=True,
    )
    return run_of(response)
