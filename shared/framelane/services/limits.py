"""Per-workspace limits: request rates (task creation and everything else have separate token buckets, so a
workspace polling its tasks never uses up its creations) and the concurrency quota the broker enforces.
Defaults come from settings; an operator's overrides live on the workspace's DynamoDB row, which every
authenticated request reads anyway."""

from __future__ import annotations

import math
from enum import StrEnum

from aws_lambda_powertools import Logger

from framelane.adapters.redis_limits import BucketState, RedisRateLimiter
from framelane.config import Settings
from framelane.errors import NotFound, RateLimited
from framelane.models import (
    EffectiveLimits,
    RateLimitOut,
    Workspace,
    WorkspaceLimits,
    WorkspaceOut,
    WorkspaceUsage,
)
from framelane.services.context import ServiceContext
from framelane.services.workspaces import forget_workspace

logger = Logger(service="framelane-limits")


class RequestClass(StrEnum):
    create = "create"
    requests = "requests"


def effective_limits(settings: Settings, overrides: WorkspaceLimits) -> EffectiveLimits:
    def pick(override: int | None, default: int) -> int:
        return default if override is None else override

    return EffectiveLimits(
        task_creation=RateLimitOut(
            per_minute=pick(overrides.create_per_minute, settings.rate_limit_create_per_minute),
            burst=pick(overrides.create_burst, settings.rate_limit_create_burst),
        ),
        requests=RateLimitOut(
            per_minute=pick(overrides.requests_per_minute, settings.rate_limit_requests_per_minute),
            burst=pick(overrides.requests_burst, settings.rate_limit_requests_burst),
        ),
        concurrency=pick(overrides.concurrency, settings.workspace_concurrency),
    )


def _bucket(
    ctx: ServiceContext, workspace: Workspace, kind: RequestClass
) -> tuple[RedisRateLimiter, RateLimitOut] | None:
    """The limiter and the rate `kind` is limited to, or None when nothing limits it (no Redis, or limit off)."""
    limits = effective_limits(ctx.settings, workspace.limits)
    rate = limits.task_creation if kind is RequestClass.create else limits.requests
    return None if ctx.limiter is None or rate.per_minute == 0 else (ctx.limiter, rate)


def _refused(kind: RequestClass, rate: RateLimitOut, state: BucketState) -> RateLimited:
    what = "task creations" if kind is RequestClass.create else "requests"
    return RateLimited(
        f"too many {what}: {rate.per_minute} per minute (bursts of {rate.burst}); retry in "
        f"{math.ceil(state.retry_after)} s",
        state,
    )


def known_refusal(ctx: ServiceContext, workspace: Workspace, kind: RequestClass) -> RateLimited | None:
    """The refusal this process already knows the request gets (its bucket is empty), without I/O, so the API can
    answer a flood on its event loop; None: ask `take_request_token`."""
    bucket = _bucket(ctx, workspace, kind)
    if bucket is None:
        return None
    limiter, rate = bucket
    known = limiter.known_refusal(workspace.id, kind.value, rate.burst, rate.per_minute)
    return None if known is None else _refused(kind, rate, known)


def take_request_token(ctx: ServiceContext, workspace: Workspace, kind: RequestClass) -> BucketState | None:
    """One token from the workspace's bucket for `kind`; None when the limit is off or Redis is unreachable
    (fail open: the API Gateway stage throttle still bounds the total). Over the limit: RateLimited."""
    bucket = _bucket(ctx, workspace, kind)
    if bucket is None:
        return None
    limiter, rate = bucket
    try:
        state = limiter.take(workspace.id, kind.value, rate.burst, rate.per_minute)
    except Exception as exc:  # a Redis outage must not take the API down with it
        logger.warning("rate limit not checked", extra={"error": type(exc).__name__})
        return None
    if not state.allowed:
        raise _refused(kind, rate, state)
    return state


def workspace_concurrency(ctx: ServiceContext, workspace_id: str) -> int:
    """The workspace's concurrency quota (the default when the workspace cannot be read)."""
    workspace = ctx.store.get_workspace(workspace_id)
    overrides = workspace.limits if workspace is not None else WorkspaceLimits()
    return effective_limits(ctx.settings, overrides).concurrency


def describe_workspace(ctx: ServiceContext, workspace: Workspace) -> WorkspaceOut:
    """What `GET /v1/workspace` shows: the limits the workspace runs under and how much of them it uses."""
    usage = ctx.broker.usage(workspace.id) if ctx.broker is not None else None
    return WorkspaceOut(
        id=workspace.id,
        name=workspace.name,
        created_at=workspace.created_at,
        limits=effective_limits(ctx.settings, workspace.limits),
        usage=WorkspaceUsage(running=usage.running if usage else 0, queued=usage.waiting if usage else 0),
    )


def update_workspace_limits(
    ctx: ServiceContext, workspace_id: str, changes: WorkspaceLimits
) -> EffectiveLimits:
    """Apply the fields `changes` sets (null: back to the default) and return the limits now in force. The
    buckets start full under the new sizes; the broker applies the quota from its next take."""
    workspace = ctx.store.get_workspace(workspace_id)
    if workspace is None:
        raise NotFound(f"workspace {workspace_id} not found")
    merged = workspace.limits.model_copy(update=changes.model_dump(include=changes.model_fields_set))
    if not ctx.store.set_workspace_limits(workspace_id, merged):
        raise NotFound(f"workspace {workspace_id} not found")
    forget_workspace(workspace_id)
    limits = effective_limits(ctx.settings, merged)
    if ctx.limiter is not None:
        for kind in RequestClass:
            ctx.limiter.reset(workspace_id, kind.value)
    if ctx.broker is not None:
        ctx.broker.set_quota(workspace_id, limits.concurrency)
    return limits


def get_workspace_limits(ctx: ServiceContext, workspace_id: str) -> EffectiveLimits:
    workspace = ctx.store.get_workspace(workspace_id)
    if workspace is None:
        raise NotFound(f"workspace {workspace_id} not found")
    return effective_limits(ctx.settings, workspace.limits)
