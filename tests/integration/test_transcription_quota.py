"""A transcription waits for a slot of its workspace's concurrency quota (`workspace_busy`, retried by the
Transcribe state) and gives it back in finalize."""

from __future__ import annotations

import time

import pytest

from framelane.errors import TaskFailure, WorkspaceBusy
from framelane.ids import new_task_id
from framelane.models import (
    FinalizeInput,
    RenderMessage,
    Task,
    TaskExecutionInput,
    TaskStatus,
    TaskType,
    WorkspaceLimits,
    utc_now,
)
from framelane.pipeline.asl import TaskMachineConfig, task_state_machine
from framelane.services.context import build_context
from framelane.services.finalize import finalize
from framelane.services.limits import update_workspace_limits
from framelane.services.transcription import transcribe_task
from framelane.services.workspaces import create_workspace

from .conftest import Stack


def test_transcription_waits_for_a_slot_and_finalize_frees_it(stack: Stack) -> None:
    ctx = build_context(stack.settings.model_copy(update={"stream_prefix": f"fltq{time.time_ns()}:tasks"}))
    broker = ctx.broker
    assert broker is not None
    workspace_id = create_workspace(ctx, "transcribing").workspace_id
    update_workspace_limits(ctx, workspace_id, WorkspaceLimits(concurrency=1))
    now = utc_now()
    task = Task(
        id=new_task_id(),
        workspace_id=workspace_id,
        status=TaskStatus.queued,
        created_at=now,
        updated_at=now,
        task_type=TaskType.transcribe,
        source_url="https://cdn.example.com/talk.mp4",
        source_key="sources/nowhere/missing",  # past the slot, the download fails
    )
    ctx.store.put_task(task)
    payload = TaskExecutionInput(
        task_id=task.id,
        workspace_id=workspace_id,
        task_type=TaskType.transcribe,
        source_url=task.source_url or "",
    )
    render = RenderMessage(
        task_id="task_r", workspace_id=workspace_id, task_type=TaskType.gaze_redirect, task_token="t"
    )
    broker.enqueue(render)
    running = broker.take("w1", [TaskType.gaze_redirect])
    assert running is not None  # the workspace's one slot is taken by a render

    with pytest.raises(WorkspaceBusy) as busy:
        transcribe_task(ctx, payload, "token")
    assert busy.value.error == "workspace_busy"
    assert ctx.store.get_task(workspace_id, task.id).status is TaskStatus.queued  # type: ignore[union-attr]

    broker.ack(running)
    with pytest.raises(Exception) as past_the_slot:  # the slot is taken; the missing source then fails it
        transcribe_task(ctx, payload, "token")
    assert not isinstance(past_the_slot.value, (TaskFailure, WorkspaceBusy))
    assert broker.usage(workspace_id).running == 1
    broker.enqueue(render)
    assert broker.take("w1", [TaskType.gaze_redirect]) is None  # held by the transcription

    finalize(ctx, FinalizeInput(task_id=task.id, workspace_id=workspace_id, task_type=TaskType.transcribe))
    assert broker.usage(workspace_id).running == 0
    assert broker.take("w1", [TaskType.gaze_redirect]) is not None


def test_the_transcribe_state_retries_workspace_busy() -> None:
    config = TaskMachineConfig(
        ingest_queue_url="i",
        dispatch_queue_url="d",
        finalize_queue_url="f",
        notify_queue_url="n",
        transcribe_queue_url="t",
    )
    [retry] = task_state_machine(config)["States"]["Transcribe"]["Retry"]
    assert retry["ErrorEquals"] == ["workspace_busy"]
    assert retry["IntervalSeconds"] * retry["MaxAttempts"] >= 3600
