"""services.tasks over in-memory stores: idempotent create, failed starts, cancel, listing pages."""

from __future__ import annotations

import pytest

from framelane.errors import (
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
    TaskNotCancellable,
)
from framelane.models import GazeRedirectRequest, TaskErrorCode, TaskStatus, TaskType, Workspace, utc_now
from framelane.services.tasks import cancel_task, create_task, get_task, list_tasks
from tests.unit.fakes import fake_context, store, workflows

WS = Workspace(id="ws_1", name="one", created_at=utc_now(), signing_secret="whsec_c2VjcmV0")
REQUEST = GazeRedirectRequest(source_url="https://media.example/clip.mp4")


def test_create_stores_and_starts_the_task() -> None:
    ctx = fake_context()
    created = create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, None)
    assert not created.replayed and created.task.status is TaskStatus.ingesting
    assert [p.task_id for p in workflows(ctx).started] == [created.task.id]
    assert get_task(ctx, WS, created.task.id).id == created.task.id


def test_same_key_same_body_replays_one_task() -> None:
    ctx = fake_context()
    first = create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, "k1")
    again = create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, "k1")
    assert again.replayed and again.task.id == first.task.id
    assert len(store(ctx).tasks) == 1 and len(workflows(ctx).started) == 1


def test_same_key_other_body_is_refused() -> None:
    ctx = fake_context()
    create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, "k1")
    other = GazeRedirectRequest(source_url="https://media.example/other.mp4")
    with pytest.raises(IdempotencyKeyReused):
        create_task(ctx, WS, TaskType.gaze_redirect, other, "k1")


def test_a_failed_start_without_a_key_fails_the_task() -> None:
    ctx = fake_context()
    workflows(ctx).fail_starts = True
    with pytest.raises(ServiceUnavailable):
        create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, None)
    (task,) = store(ctx).tasks.values()
    assert task.status is TaskStatus.failed
    assert task.error is not None and task.error.code is TaskErrorCode.internal_error


def test_a_failed_start_with_a_key_is_adopted_by_the_retry() -> None:
    ctx = fake_context()
    workflows(ctx).fail_starts = True
    with pytest.raises(ServiceUnavailable):
        create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, "k1")
    workflows(ctx).fail_starts = False
    retried = create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, "k1")
    assert list(store(ctx).tasks) == [(WS.id, retried.task.id)]  # the same task, started now
    assert [p.task_id for p in workflows(ctx).started] == [retried.task.id]


def test_another_workspaces_upload_is_refused() -> None:
    ctx = fake_context()
    foreign = GazeRedirectRequest(source_url=f"s3://{ctx.blobs.bucket}/uploads/ws_2/u_1/clip.mp4")
    with pytest.raises(InvalidRequest):
        create_task(ctx, WS, TaskType.gaze_redirect, foreign, None)


def test_cancel_stops_a_live_task_once() -> None:
    ctx = fake_context()
    task = create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, None).task
    cancelled = cancel_task(ctx, WS, task.id)
    assert cancelled.status is TaskStatus.cancelled and cancelled.completed_at is not None
    assert workflows(ctx).stopped == [task.id]
    with pytest.raises(TaskNotCancellable):
        cancel_task(ctx, WS, task.id)
    with pytest.raises(NotFound):
        cancel_task(ctx, WS, "task_missing")


def test_listing_pages_newest_first_with_a_cursor() -> None:
    ctx = fake_context()
    created = [create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, None).task.id for _ in range(3)]
    newest_first = sorted(created, reverse=True)  # ULIDs within one millisecond are not ordered by creation
    first = list_tasks(ctx, WS, task_type=None, status=None, limit=2, cursor=None)
    assert [j.id for j in first.data] == newest_first[:2] and first.has_more and first.next_cursor
    second = list_tasks(ctx, WS, task_type=None, status=None, limit=2, cursor=first.next_cursor)
    assert [j.id for j in second.data] == newest_first[2:] and not second.has_more
