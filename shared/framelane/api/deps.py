"""FastAPI dependencies, so routes read like a sentence: `workspace: CurrentWorkspace, ctx: ContextDep`."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from framelane.adapters.redis_limits import BucketState
from framelane.api.refusals import KnownRefusals
from framelane.errors import RateLimited, Unauthorized
from framelane.models import Workspace
from framelane.services.context import ServiceContext
from framelane.services.limits import RequestClass, known_refusal, take_request_token
from framelane.services.workspaces import authenticate, recently_authenticated

bearer = HTTPBearer(auto_error=False, description="API key of a workspace: `Authorization: Bearer fl_…`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def get_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[ServiceContext, Depends(get_context)]


def _authenticate_and_take(
    ctx: ServiceContext, api_key: str | None, kind: RequestClass
) -> tuple[Workspace, BucketState | None]:
    workspace = authenticate(ctx, api_key)
    return workspace, take_request_token(ctx, workspace, kind)


async def _admitted(
    request: Request, ctx: ServiceContext, credentials: Credentials, kind: RequestClass
) -> Workspace:
    """Authenticate and take the request's token; the bucket goes on request.state for the RateLimit-* headers.

    Async, so that what needs no I/O happens on the event loop: a workspace whose bucket this process knows is
    empty is refused there; only the store and Redis are asked from a thread. Tells the known-refusals
    middleware (refusals.py) which bucket this route takes, so the next such refusal is answered before routing."""
    known_refusals: KnownRefusals | None = getattr(request.app.state, "known_refusals", None)
    if known_refusals is not None:
        known_refusals.learn(request.scope, kind)
    api_key = credentials.credentials if credentials else None
    try:
        known = recently_authenticated(ctx, api_key)
        refusal = None if known is None else known_refusal(ctx, known, kind)
        if refusal is not None:
            raise refusal
        workspace, request.state.rate_limit = await run_in_threadpool(
            _authenticate_and_take, ctx, api_key, kind
        )
    except RateLimited as exc:
        request.state.rate_limit = exc.bucket
        raise
    return workspace


async def current_workspace(request: Request, ctx: ContextDep, credentials: Credentials) -> Workspace:
    return await _admitted(request, ctx, credentials, RequestClass.requests)


async def creating_workspace(request: Request, ctx: ContextDep, credentials: Credentials) -> Workspace:
    """The caller of a task creation: counted against the creation bucket, not the general one."""
    return await _admitted(request, ctx, credentials, RequestClass.create)


CurrentWorkspace = Annotated[Workspace, Depends(current_workspace)]
CreatingWorkspace = Annotated[Workspace, Depends(creating_workspace)]


def require_admin(ctx: ContextDep, credentials: Credentials) -> None:
    expected = ctx.settings.admin_token
    given = credentials.credentials if credentials else ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("operator token required")
