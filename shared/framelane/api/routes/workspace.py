"""/v1/workspace: the calling workspace, the limits it runs under and its current usage."""

from fastapi import APIRouter

from framelane.api.deps import ContextDep, CurrentWorkspace
from framelane.api.errors import ERROR_RESPONSES
from framelane.models import WorkspaceOut
from framelane.services.limits import describe_workspace

router = APIRouter(prefix="/v1/workspace", tags=["workspace"], responses={401: ERROR_RESPONSES[401]})


@router.get(
    "",
    response_model=WorkspaceOut,
    summary="Get the workspace, its limits and usage",
    description="Rate limits (task creation and other requests: per minute, burst), the concurrency quota, "
    "and how many renders run now or wait for a slot.",
)
def get_workspace(workspace: CurrentWorkspace, ctx: ContextDep) -> WorkspaceOut:
    return describe_workspace(ctx, workspace)
