"""Per-workspace request rate limits: task creation and everything else have separate token buckets, so a
workspace polling its tasks never uses up its creations (and the reverse)."""

from __future__ import annotations

import math
from enum import StrEnum

from aws_lambda_powertools import Logger

from framelane.adapters.redis_limits import BucketState
from framelane.errors import RateLimited
from framelane.models import Workspace
from framelane.services.context import ServiceContext

logger = Logger(service="framelane-limits")


class RequestClass(StrEnum):
    create = "create"
    requests = "requests"


def take_request_token(ctx: ServiceContext, workspace: Workspace, kind: RequestClass) -> BucketState | None:
    """One token from the workspace's bucket for `kind`; None when the limit is off or Redis is unreachable
    (fail open: the API Gateway stage throttle still bounds the total). Over the limit: RateLimited."""
    limiter = ctx.limiter
    settings = ctx.settings
    if kind is RequestClass.create:
        per_minute, burst = settings.rate_limit_create_per_minute, settings.rate_limit_create_burst
    else:
        per_minute, burst = settings.rate_limit_requests_per_minute, settings.rate_limit_requests_burst
    if limiter is None or per_minute == 0:
        return None
    try:
        state = limiter.take(workspace.id, kind.value, burst, per_minute)
    except Exception as exc:  # a Redis outage must not take the API down with it
        logger.warning("rate limit not checked", extra={"error": type(exc).__name__})
        return None
    if not state.allowed:
        what = "task creations" if kind is RequestClass.create else "requests"
        raise RateLimited(
            f"too many {what}: {per_minute} per minute (bursts of {burst}); retry in "
            f"{math.ceil(state.retry_after)} s",
            state,
        )
    return state
