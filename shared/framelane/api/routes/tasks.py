"""/v1/tasks: create (one route per task type), list, get, cancel."""

from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Response

from framelane.api.deps import ContextDep, CreatingWorkspace, CurrentWorkspace
from framelane.api.errors import ERROR_RESPONSES
from framelane.api.routes import TaskId
from framelane.models import (
    REQUEST_MODEL_BY_TYPE,
    ContentCredentialsReport,
    ErrorResponse,
    JobOut,
    TaskPage,
    TaskRequestBase,
    TaskStatus,
    TaskType,
    Transcript,
    TranscriptFormat,
)
from framelane.services import tasks as task_service
from framelane.services.credentials import get_credentials
from framelane.services.transcripts import get_transcript
from framelane.transcription.captions import DEFAULT_CHARS_PER_CAPTION

router = APIRouter(prefix="/v1/tasks", tags=["tasks"], responses={401: ERROR_RESPONSES[401]})

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Makes the create safe to retry for 24 h: a replay with the same body returns the same job.",
    ),
]

_SUMMARIES = {
    TaskType.remove_background: "Remove Background task",
    TaskType.gaze_redirect: "Gaze Redirect task",
    TaskType.super_resolution: "Super Resolution task",
    TaskType.transcribe: "Transcribe task",
}


def _add_create_route(task_type: TaskType, body_model: type[TaskRequestBase]) -> None:
    def create(
        body: Annotated[body_model, Body()],  # type: ignore[valid-type]
        workspace: CreatingWorkspace,
        ctx: ContextDep,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> JobOut:
        result = task_service.create_task(ctx, workspace, task_type, body, idempotency_key)
        response.status_code = 200 if result.replayed else 202
        return result.task

    router.add_api_route(
        f"/{task_type.value.replace('_', '-')}",
        create,
        methods=["POST"],
        status_code=202,
        response_model=JobOut,
        summary=_SUMMARIES[task_type],
        operation_id=f"create_{task_type.value}_task",
        responses={
            200: {"model": JobOut, "description": "Idempotent replay."},
            409: ERROR_RESPONSES[409],
            422: ERROR_RESPONSES[422],
            503: {
                "model": ErrorResponse,
                "description": "The task could not be started; retry (with the same Idempotency-Key).",
            },
        },
    )


for _task_type, _model in REQUEST_MODEL_BY_TYPE.items():
    _add_create_route(_task_type, _model)


@router.get(
    "",
    response_model=TaskPage,
    summary="List tasks",
    responses={400: ERROR_RESPONSES[400], 422: ERROR_RESPONSES[422]},
)
def list_tasks(
    workspace: CurrentWorkspace,
    ctx: ContextDep,
    type: Annotated[TaskType | None, Query(description="Only tasks of this type.")] = None,
    status: Annotated[TaskStatus | None, Query(description="Only tasks in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=4096, description="`next_cursor` of the previous page.")
    ] = None,
) -> TaskPage:
    return task_service.list_tasks(ctx, workspace, task_type=type, status=status, limit=limit, cursor=cursor)


@router.get(
    "/{task_id:id}", response_model=JobOut, summary="Get a task", responses={404: ERROR_RESPONSES[404]}
)
def get_task(task_id: TaskId, workspace: CurrentWorkspace, ctx: ContextDep) -> JobOut:
    return task_service.get_task(ctx, workspace, task_id)


@router.post(
    "/{task_id:id}/cancel",
    response_model=JobOut,
    summary="Cancel a task",
    responses={404: ERROR_RESPONSES[404], 409: ERROR_RESPONSES[409]},
)
def cancel_task(task_id: TaskId, workspace: CurrentWorkspace, ctx: ContextDep) -> JobOut:
    return task_service.cancel_task(ctx, workspace, task_id)


@router.get(
    "/{task_id:id}/transcript",
    summary="Get a transcript",
    response_model=Transcript,
    responses={
        200: {
            "description": "The transcript: JSON (the model below), plain text, SRT or WebVTT by `format`.",
            "content": {"text/plain": {}, "application/x-subrip": {}, "text/vtt": {}},
        },
        404: ERROR_RESPONSES[404],
        409: ERROR_RESPONSES[409],
    },
)
def transcript(
    task_id: TaskId,
    workspace: CurrentWorkspace,
    ctx: ContextDep,
    format: Annotated[TranscriptFormat, Query(description="json, text, srt or vtt.")] = TranscriptFormat.json,
    chars_per_caption: Annotated[int, Query(ge=8, le=200, description="Caption length for srt/vtt.")] = (
        DEFAULT_CHARS_PER_CAPTION
    ),
) -> Response:
    content, media_type = get_transcript(ctx, workspace, task_id, format, chars_per_caption)
    return Response(content=content, media_type=media_type)


@router.get(
    "/{task_id:id}/credentials",
    response_model=ContentCredentialsReport,
    summary="Get an output's Content Credentials",
    description="The C2PA manifest of a completed renderer task's output as validated right after signing: "
    "validation state, where the manifest is (embedded or a sidecar link), signer, claim generator, actions "
    "and ingredients.",
    responses={404: ERROR_RESPONSES[404]},
)
def credentials(task_id: TaskId, workspace: CurrentWorkspace, ctx: ContextDep) -> ContentCredentialsReport:
    return get_credentials(ctx, workspace, task_id)
