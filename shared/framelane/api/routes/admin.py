"""Operator routes (not in the public OpenAPI): workspace creation, guarded by FRAMELANE_ADMIN_TOKEN."""

from fastapi import APIRouter, Depends

from framelane.api.deps import ContextDep, require_admin
from framelane.models import WorkspaceCreated, WorkspaceCreateRequest
from framelane.services.workspaces import create_workspace

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(require_admin)])


@router.post("/workspaces", response_model=WorkspaceCreated, status_code=201)
def create(body: WorkspaceCreateRequest, ctx: ContextDep) -> WorkspaceCreated:
    return create_workspace(ctx, body.name)
