"""FastAPI dependencies, so routes read like a sentence: `workspace: CurrentWorkspace, ctx: ContextDep`."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from framelane.errors import RateLimited, Unauthorized
from framelane.models import Workspace
from framelane.services.context import ServiceContext
from framelane.services.limits import RequestClass, take_request_token
from framelane.services.workspaces import authenticate

bearer = HTTPBearer(auto_error=False, description="API key of a workspace: `Authorization: Bearer fl_…`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def get_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[ServiceContext, Depends(get_context)]


def _limited(request: Request, ctx: ServiceContext, workspace: Workspace, kind: RequestClass) -> Workspace:
    """Take the request's token; the bucket goes on request.state for the RateLimit-* headers."""
    try:
        request.state.rate_limit = take_request_token(ctx, workspace, kind)
    except RateLimited as exc:
        request.state.rate_limit = exc.bucket
        raise
    return workspace


def current_workspace(request: Request, ctx: ContextDep, credentials: Credentials) -> Workspace:
    workspace = authenticate(ctx, credentials.credentials if credentials else None)
    return _limited(request, ctx, workspace, RequestClass.requests)


def creating_workspace(request: Request, ctx: ContextDep, credentials: Credentials) -> Workspace:
    """The caller of a task creation: counted against the creation bucket, not the general one."""
    workspace = authenticate(ctx, credentials.credentials if credentials else None)
    return _limited(request, ctx, workspace, RequestClass.create)


CurrentWorkspace = Annotated[Workspace, Depends(current_workspace)]
CreatingWorkspace = Annotated[Workspace, Depends(creating_workspace)]


def require_admin(ctx: ContextDep, credentials: Credentials) -> None:
    expected = ctx.settings.admin_token
    given = credentials.credentials if credentials else ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("operator token required")
