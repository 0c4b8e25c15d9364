"""Operator routes (not in the public OpenAPI): workspaces, keys and limits, guarded by FRAMELANE_ADMIN_TOKEN."""

from fastapi import APIRouter, Depends

from framelane.api.deps import ContextDep, require_admin
from framelane.models import (
    ApiKeyRevokeRequest,
    Deleted,
    EffectiveLimits,
    WorkspaceCreated,
    WorkspaceCreateRequest,
    WorkspaceLimits,
)
from framelane.services.limits import get_workspace_limits, update_workspace_limits
from framelane.services.workspaces import create_workspace, issue_api_key, revoke_api_key

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(require_admin)])


@router.post("/workspaces", response_model=WorkspaceCreated, status_code=201)
def create(body: WorkspaceCreateRequest, ctx: ContextDep) -> WorkspaceCreated:
    return create_workspace(ctx, body.name)


@router.post("/workspaces/{workspace_id}/api-keys", response_model=WorkspaceCreated, status_code=201)
def issue_key(workspace_id: str, ctx: ContextDep) -> WorkspaceCreated:
    return issue_api_key(ctx, workspace_id)


@router.post("/api-keys/revoke", response_model=Deleted)
def revoke_key(body: ApiKeyRevokeRequest, ctx: ContextDep) -> Deleted:
    revoke_api_key(ctx, body.api_key)
    return Deleted(id=body.api_key[:7] + "…")


@router.get("/workspaces/{workspace_id}/limits", response_model=EffectiveLimits)
def limits(workspace_id: str, ctx: ContextDep) -> EffectiveLimits:
    return get_workspace_limits(ctx, workspace_id)


@router.patch("/workspaces/{workspace_id}/limits", response_model=EffectiveLimits)
def change_limits(workspace_id: str, body: WorkspaceLimits, ctx: ContextDep) -> EffectiveLimits:
    """Fields present in the body replace the workspace's overrides (null: back to the default)."""
    return update_workspace_limits(ctx, workspace_id, body)
