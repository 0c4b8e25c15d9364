"""/v1/tasks/{id}/source: a signed link to the ingested source (the console's "before")."""

from fastapi import APIRouter

from framelane.api.deps import ContextDep, CurrentWorkspace
from framelane.api.errors import ERROR_RESPONSES
from framelane.api.routes import TaskId
from framelane.models import SourceLink
from framelane.services.sources import source_link

router = APIRouter(prefix="/v1/tasks", tags=["tasks"], responses={401: ERROR_RESPONSES[401]})


@router.get(
    "/{task_id:id}/source",
    response_model=SourceLink,
    summary="Get a link to a task's source",
    responses={404: ERROR_RESPONSES[404], 409: ERROR_RESPONSES[409]},
)
def source(task_id: TaskId, workspace: CurrentWorkspace, ctx: ContextDep) -> SourceLink:
    return source_link(ctx, workspace, task_id)
