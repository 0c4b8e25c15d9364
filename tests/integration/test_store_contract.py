"""The in-memory FakeStore of the unit tests keeps the contracts the services rely on: each check runs against
it and against the DynamoDB adapter on moto_server, as Powertools tests one behaviour per backend."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from framelane.adapters.dynamodb import ConditionFailed, IdempotencyRecord
from framelane.models import Task, TaskStatus, TaskType, WorkspaceCreated, utc_now
from framelane.services.ports import Store
from tests.unit.fakes import FakeStore

from .conftest import Stack


@pytest.fixture(params=["fake", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[Store, str]]:
    if request.param == "fake":
        yield FakeStore(), "ws_contract"
    else:
        stack: Stack = request.getfixturevalue("stack")
        workspace: WorkspaceCreated = request.getfixturevalue("workspace")
        yield stack.ctx.store, workspace.workspace_id


def _task(workspace_id: str, status: TaskStatus = TaskStatus.processing) -> Task:
    now = utc_now()
    return Task(
        id=f"task_{time.time_ns()}",
        workspace_id=workspace_id,
        status=status,
        created_at=now,
        updated_at=now,
        task_type=TaskType.gaze_redirect,
    )


def test_a_task_is_stored_once(backend: tuple[Store, str]) -> None:
    store, ws = backend
    task = _task(ws)
    store.put_task(task)
    with pytest.raises(ConditionFailed):
        store.put_task(task)
    stored = store.get_task(ws, task.id)
    assert stored is not None and stored.model_dump(mode="json") == task.model_dump(mode="json")


def test_a_transition_writes_only_from_the_given_statuses(backend: tuple[Store, str]) -> None:
    store, ws = backend
    task = _task(ws)
    store.put_task(task)
    moved = store.transition_task(
        task.model_copy(update={"status": TaskStatus.cancelled, "progress_percent": 7}),
        {"status"},
        from_statuses={TaskStatus.processing},
    )
    assert moved.status is TaskStatus.cancelled and moved.progress_percent == 0  # only `status` was written
    with pytest.raises(ConditionFailed):
        store.transition_task(moved, {"progress_percent"}, from_statuses={TaskStatus.processing})


def test_listing_filters_and_pages_newest_first(backend: tuple[Store, str]) -> None:
    store, ws = backend
    tasks = [_task(ws, TaskStatus.queued) for _ in range(3)]
    for task in tasks:
        store.put_task(task)
    newest_first = sorted((j.id for j in tasks), reverse=True)
    page, more = store.query_tasks(
        ws, task_type=TaskType.gaze_redirect, status=TaskStatus.queued, limit=2, start_key=None
    )
    assert [j.id for j in page] == newest_first[:2] and more
    after = store.task_page_key(page[-1], task_type=TaskType.gaze_redirect, status=TaskStatus.queued)
    rest, more = store.query_tasks(
        ws, task_type=TaskType.gaze_redirect, status=TaskStatus.queued, limit=2, start_key=after
    )
    assert [j.id for j in rest] == newest_first[2:] and not more


def test_an_idempotency_claim_is_held_until_its_lock_lapses(backend: tuple[Store, str]) -> None:
    store, ws = backend
    now = int(time.time())
    key = f"k-{time.time_ns()}"

    def claim(token: str, locked_until: int) -> IdempotencyRecord:
        return IdempotencyRecord(ws, key, "in_progress", "fp", token, locked_until, now + 3600, "task_x")

    assert store.claim_idempotency_key(claim("a", now + 60), now) == (None, None)
    holder, _ = store.claim_idempotency_key(claim("b", now + 60), now)
    assert holder is not None and holder.lock_token == "a"
    store.unlock_idempotency_key(claim("a", now + 60))
    holder, previous = store.claim_idempotency_key(claim("b", now + 60), now)
    assert holder is None and previous is not None and previous.lock_token == "a"
    with pytest.raises(ConditionFailed):
        store.complete_idempotency_key(claim("a", now + 60), "task_x")  # "b" took it over
    store.complete_idempotency_key(claim("b", now + 60), "task_x")
    holder, _ = store.claim_idempotency_key(claim("c", now + 60), now)
    assert holder is not None and (holder.state, holder.task_id) == ("completed", "task_x")
