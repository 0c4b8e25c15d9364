"""The DynamoDB adapter against moto_server: a transition writes only the fields it changed, and a lost
idempotency claim returns its holder from the failed write."""

from __future__ import annotations

import time

import pytest

from framelane.adapters.dynamodb import ConditionFailed, IdempotencyRecord
from framelane.models import ProgressStage, Task, TaskStatus, TaskType, WorkspaceCreated, utc_now
from framelane.services.task_state import LIVE, transition

from .conftest import Stack


def _stored_task(stack: Stack, workspace: WorkspaceCreated) -> Task:
    now = utc_now()
    task = Task(
        id=f"task_{time.time_ns()}",
        workspace_id=workspace.workspace_id,
        status=TaskStatus.processing,
        created_at=now,
        updated_at=now,
        task_type=TaskType.gaze_redirect,
    )
    stack.ctx.store.put_task(task)
    return task


def test_a_progress_write_keeps_what_another_writer_stored(stack: Stack, workspace: WorkspaceCreated) -> None:
    task = _stored_task(stack, workspace)
    transition(stack.ctx, task, LIVE, step_token="token-from-the-callback")
    # a worker holding the copy from before the token was stored writes progress
    moved = transition(stack.ctx, task, LIVE, progress_stage=ProgressStage.compositing, progress_percent=40)
    assert moved is not None and moved.step_token == "token-from-the-callback"
    stored = stack.ctx.store.get_task(task.workspace_id, task.id)
    assert (
        stored is not None
        and stored.progress_percent == 40
        and stored.step_token == "token-from-the-callback"
    )


def test_a_status_change_moves_the_task_between_index_pages(
    stack: Stack, workspace: WorkspaceCreated
) -> None:
    task = _stored_task(stack, workspace)
    assert transition(stack.ctx, task, LIVE, status=TaskStatus.cancelled) is not None

    def listed(status: TaskStatus) -> list[str]:
        tasks, _ = stack.ctx.store.query_tasks(
            task.workspace_id, task_type=TaskType.gaze_redirect, status=status, limit=50, start_key=None
        )
        return [j.id for j in tasks]

    assert task.id in listed(TaskStatus.cancelled) and task.id not in listed(TaskStatus.processing)
    assert transition(stack.ctx, task, LIVE, status=TaskStatus.failed) is None  # no longer live
    with pytest.raises(ConditionFailed):
        stack.ctx.store.transition_task(task, {"progress_percent"}, from_statuses={TaskStatus.processing})


def test_a_lost_claim_returns_its_holder(stack: Stack, workspace: WorkspaceCreated) -> None:
    now = int(time.time())

    def record(token: str) -> IdempotencyRecord:
        return IdempotencyRecord(
            workspace.workspace_id, f"k-{now}", "in_progress", "fp", token, now + 60, now + 3600, "task_x"
        )

    assert stack.ctx.store.claim_idempotency_key(record("first"), now) == (None, None)
    holder, previous = stack.ctx.store.claim_idempotency_key(record("second"), now)
    assert previous is None and holder is not None
    assert (holder.lock_token, holder.task_id, holder.state) == ("first", "task_x", "in_progress")
