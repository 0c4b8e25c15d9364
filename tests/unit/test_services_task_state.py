"""services.task_state over the in-memory store: a missing task is an internal failure with its id, every transition
stamps updated_at, and a terminal one clears what only a live task has (stage, time left)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from framelane.errors import TaskFailure
from framelane.models import ProgressStage, Task, TaskErrorCode, TaskStatus, utc_now
from framelane.services.render_queue import tend_render_queue
from framelane.services.task_state import load_task, transition
from tests.unit.fakes import fake_context, store


def test_a_missing_task_is_an_internal_failure_naming_it() -> None:
    with pytest.raises(TaskFailure) as raised:
        load_task(fake_context(), "ws_1", "task_9")
    assert (raised.value.code, raised.value.message) == (
        TaskErrorCode.internal_error,
        "task task_9 does not exist",
    )


def test_a_terminal_transition_stamps_the_time_and_clears_the_live_fields() -> None:
    ctx = fake_context()
    then = utc_now() - timedelta(minutes=5)
    task = Task(
        id="task_1",
        workspace_id="ws_1",
        status=TaskStatus.processing,
        created_at=then,
        updated_at=then,
        progress_stage=ProgressStage.compositing,
        estimated_seconds_remaining=30,
    )
    store(ctx).tasks["ws_1", "task_1"] = task
    moving = transition(ctx, task, frozenset({TaskStatus.processing}), progress_percent=40)
    assert (
        moving is not None
        and moving.updated_at > then
        and store(ctx).tasks["ws_1", "task_1"].updated_at > then
    )
    failed = transition(ctx, moving, frozenset({TaskStatus.processing}), status=TaskStatus.failed)
    stored = store(ctx).tasks["ws_1", "task_1"]
    assert failed == stored and stored.completed_at is not None
    assert (stored.progress_stage, stored.estimated_seconds_remaining) == (None, None)


def test_a_render_queue_without_a_broker_is_an_internal_failure() -> None:
    with pytest.raises(TaskFailure) as raised:
        tend_render_queue(fake_context())
    assert (raised.value.code, raised.value.message) == (
        TaskErrorCode.internal_error,
        "no renderer broker is configured",
    )
