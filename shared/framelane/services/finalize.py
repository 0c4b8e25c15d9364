"""Finalize: the task row's terminal state, and which webhook event (if any) announces it."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from framelane.errors import TaskCancelled
from framelane.models import FinalizeInput, JobError, Task, TaskErrorCode, TaskStatus, TaskType, WebhookEvent
from framelane.services.context import ServiceContext
from framelane.services.task_state import LIVE, load_task, transition

logger = Logger(service="framelane-finalize")

_TIMEOUT_ERRORS = {"States.Timeout", "States.HeartbeatTimeout"}


class FinalizeResult(BaseModel):
    event: WebhookEvent | None


def finalize(ctx: ServiceContext, payload: FinalizeInput) -> FinalizeResult:
    task = load_task(ctx, payload.workspace_id, payload.task_id)
    if task.task_type is TaskType.transcribe:
        _release_slot(ctx, task)
    if payload.error is None:
        return FinalizeResult(
            event=WebhookEvent.task_completed if task.status is TaskStatus.completed else None
        )
    if task.status is TaskStatus.cancelled or payload.error.error == TaskCancelled.name:
        return FinalizeResult(event=None)
    if task.status is TaskStatus.failed:
        return FinalizeResult(event=WebhookEvent.task_failed)
    failed = transition(
        ctx, task, LIVE, status=TaskStatus.failed, error=task_error(payload.error.error, payload.error.cause)
    )
    return FinalizeResult(event=WebhookEvent.task_failed if failed is not None else None)


def _release_slot(ctx: ServiceContext, task: Task) -> None:
    """The transcription's concurrency slot (a render's is freed by its ACK). Best effort: with Redis away the
    hold expires by itself."""
    if ctx.broker is None:
        return
    try:
        ctx.broker.release_slot(task.workspace_id, task.id)
    except Exception:
        logger.warning(
            "transcription slot not released; it expires", exc_info=True, extra={"task_id": task.id}
        )


def task_error(error: str, cause: str | None) -> JobError:
    """Map a Step Functions error name to the public JobError (unknown names are internal errors)."""
    if error in _TIMEOUT_ERRORS:
        return JobError(code=TaskErrorCode.worker_lost, message="the task stopped reporting progress")
    try:
        code = TaskErrorCode(error)
    except ValueError:
        return JobError(code=TaskErrorCode.internal_error, message="the task failed unexpectedly")
    return JobError(code=code, message=(cause or code.value)[:1000])
