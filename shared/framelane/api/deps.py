"""FastAPI dependencies, so routes read like a sentence: `workspace: CurrentWorkspace, ctx: ContextDep`."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from framelane.errors import Unauthorized
from framelane.models import Workspace
from framelane.services.context import ServiceContext
from framelane.services.workspaces import authenticate

bearer = HTTPBearer(auto_error=False, description="API key of a workspace: `Authorization: Bearer fl_…`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def get_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[ServiceContext, Depends(get_context)]


def current_workspace(ctx: ContextDep, credentials: Credentials) -> Workspace:
    return authenticate(ctx, credentials.credentials if credentials else None)


CurrentWorkspace = Annotated[Workspace, Depends(current_workspace)]


def require_admin(ctx: ContextDep, credentials: Credentials) -> None:
    expected = ctx.settings.admin_token
    given = credentials.credentials if credentials else ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("operator token required")
