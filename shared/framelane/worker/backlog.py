"""The broker backlog per task type (renders, and offline transcriptions where those go through the broker):
what autoscaling and alarms watch, and what wakes the SageMaker endpoint."""

from __future__ import annotations

import math

from framelane.adapters.aws import sagemaker_runtime_client
from framelane.adapters.sagemaker_async import AsyncEndpoint
from framelane.models import TaskType
from framelane.services.context import ServiceContext


def stream_backlog(ctx: ServiceContext) -> dict[str, int]:
    if ctx.broker is None:
        return {}
    return {t.value: ctx.broker.backlog(t) for t in TaskType}


def endpoint_from_settings(ctx: ServiceContext) -> AsyncEndpoint | None:
    name = ctx.settings.sagemaker_endpoint
    return AsyncEndpoint(sagemaker_runtime_client(ctx.settings), ctx.blobs, name) if name else None


def request_drains(ctx: ServiceContext, endpoint: AsyncEndpoint, backlog: int) -> int:
    """While the streams hold work, queue enough drain invocations to cover it (capped per run): the endpoint
    wakes from zero on its own backlog, and a drain that finds nothing returns at once."""
    settings = ctx.settings
    wanted = min(math.ceil(backlog / settings.sagemaker_drain_entries), settings.sagemaker_max_requests)
    return len(
        endpoint.request_drains(wanted, settings.sagemaker_drain_entries, settings.sagemaker_drain_seconds)
    )
