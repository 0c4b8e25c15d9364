"""Task state changes shared by every pipeline step: conditional transitions and the public view of a task."""

from __future__ import annotations

from typing import Any

from framelane.adapters.dynamodb import ConditionFailed
from framelane.errors import TaskFailure
from framelane.models import JobOut, JobOutput, Task, TaskErrorCode, TaskStatus, utc_now
from framelane.services.context import ServiceContext
from framelane.services.credentials import presign_credentials

LIVE = frozenset(s for s in TaskStatus if not s.is_terminal)


def load_task(ctx: ServiceContext, workspace_id: str, task_id: str) -> Task:
    task = ctx.store.get_task(workspace_id, task_id)
    if task is None:
        raise TaskFailure(TaskErrorCode.internal_error, f"task {task_id} does not exist")
    return task


def transition(
    ctx: ServiceContext, task: Task, from_statuses: frozenset[TaskStatus], **changes: Any
) -> Task | None:
    """Apply `changes` if the stored status is still in `from_statuses`; None when another writer got there first."""
    now = utc_now()
    changes = {"updated_at": now, **changes}
    updated = task.model_copy(update=changes)
    if updated.status.is_terminal and updated.completed_at is None:
        ending = {"completed_at": now, "progress_stage": None, "estimated_seconds_remaining": None}
        changes |= ending
        updated = updated.model_copy(update=ending)
    try:
        return ctx.store.transition_task(updated, set(changes), from_statuses=set(from_statuses))
    except ConditionFailed:
        return None


def present(ctx: ServiceContext, task: Task) -> JobOut:
    """The public JobOut, with a freshly signed output URL (links expire; keys do not)."""
    out = task.to_out()
    if task.output_key and out.output is not None:
        url = ctx.blobs.presigned_get(task.output_key, expires_in=ctx.settings.output_url_ttl_seconds)
        output = JobOutput.model_validate({**out.output.model_dump(), "url": url})
        if output.content_credentials is not None:
            output.content_credentials = presign_credentials(ctx, output.content_credentials)
        out = out.model_copy(update={"output": output})
    return out
