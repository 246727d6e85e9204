"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.deps import MetricsDep, resources_of
from api.errors import DATABASE, TEMPORAL
from api.schemas import Health, Readiness

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

# A readiness probe must answer quickly, whatever hangs behind it.
CHECK_TIMEOUT = timedelta(seconds=2)


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"description": "the database or Temporal is unreachable"}},
)
async def readyz(request: Request) -> Readiness | JSONResponse:
    """Readiness: the database and Temporal both answer a trivial call."""
    # Resolved here rather than as a dependency: "still starting" is a 503 like any other.
    try:
        resources = resources_of(request)
    except Exception:
        return JSONResponse(status_code=503, content={"detail": "starting", "checks": {}})

    async def database() -> None:
        await asyncio.wait_for(resources.store.ping(), CHECK_TIMEOUT.total_seconds())

    async def temporal() -> None:
        await resources.temporal.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=CHECK_TIMEOUT
        )

    names = (DATABASE, TEMPORAL)
    results = await asyncio.gather(database(), temporal(), return_exceptions=True)
    checks: dict[str, str] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, asyncio.CancelledError):
            raise result
        if isinstance(result, BaseException):
            logger.warning("readiness: %s check failed (%s)", name, type(result).__name__)
            checks[name] = "unavailable"
        else:
            checks[name] = "ok"
    down = [name for name, state in checks.items() if state != "ok"]
    if down:
        return JSONResponse(
            status_code=503,
            content={"detail": f"unavailable: {', '.join(down)}", "checks": checks},
        )
    return Readiness(checks=checks)


@router.get("/metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics of this API instance."""
    return Response(content=metrics.render(), media_type=CONTENT_TYPE_LATEST)
