"""The render queue keeper against a worker answering at the same moment: no entry is left behind for a render
nothing waits for any more (a worker would take it and render the task again)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from framelane.models import RenderDispatch, RenderMessage, Task, TaskStatus, TaskType, utc_now
from framelane.services.render_queue import tend_render_queue
from tests.unit.fakes import fake_context, store


@dataclass
class _AnsweredWhileAdding:
    """A broker whose stream lost the render's entry; while the keeper adds it again, the render's worker
    answers (its record is deleted between the keeper's look and its update)."""

    on_enqueue: Callable[[], None]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def is_leased(self, unit_id: str) -> bool:
        return False

    def has_entry(self, task_type: TaskType, workspace_id: str, entry_id: str) -> bool:
        return False

    def enqueue(self, message: RenderMessage, quota: int | None = None) -> str:
        self.on_enqueue()
        self.added.append(f"2-{len(self.added)}")
        return self.added[-1]

    def remove(self, task_type: TaskType, workspace_id: str, entry_id: str) -> None:
        self.removed.append(entry_id)


def test_an_entry_added_again_for_a_render_answered_meanwhile_is_removed() -> None:
    ctx = fake_context(render_queue_wait_seconds=3600)
    now = utc_now()
    task = Task(
        id="task_1",
        workspace_id="ws_1",
        status=TaskStatus.processing,
        created_at=now - timedelta(minutes=5),
        updated_at=now - timedelta(minutes=2),  # its worker went quiet: past the visibility timeout
        task_type=TaskType.gaze_redirect,
    )
    store(ctx).put_task(task)
    record = RenderDispatch(
        task_id=task.id,
        workspace_id=task.workspace_id,
        task_type=TaskType.gaze_redirect,
        task_token="token-1",
        dispatched_at=now,
        entry_id="1-0",
    )
    store(ctx).put_render_dispatch(record, 60)
    broker = _AnsweredWhileAdding(lambda: store(ctx).delete_render_dispatch(record.unit_id))
    ctx.__dict__["broker"] = broker
    report = tend_render_queue(ctx, now)
    assert broker.added == broker.removed == ["2-0"]
    assert report.requeued == 0
    assert store(ctx).get_render_dispatch(record.unit_id) is None
