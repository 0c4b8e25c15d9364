"""A re-driven execution (the local stack's restart) passes Ingest for a task whose source was already copied and
probed, whatever its live status: without that, a task left `processing` failed Ingest's queued transition and
never ended."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from framelane.models import IngestOutcome, MediaInfo, Task, TaskExecutionInput, TaskStatus, TaskType, utc_now
from framelane.services.ingest import ingest


class OneTaskStore:
    def __init__(self, task: Task) -> None:
        self.task = task

    def get_task(self, workspace_id: str, task_id: str) -> Task | None:
        return self.task if (workspace_id, task_id) == (self.task.workspace_id, self.task.id) else None


class NoBlobs:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"ingest touched the media store ({name}) for a task it had already ingested")


@pytest.mark.parametrize("status", [TaskStatus.queued, TaskStatus.processing])
def test_an_ingested_task_passes_ingest_without_fetching_again(status: TaskStatus) -> None:
    now = utc_now()
    media = MediaInfo(duration=1, width=64, height=48, fps=25, has_video=True, has_audio=False, size_bytes=10)
    task = Task(
        id="task_1",
        workspace_id="ws_1",
        status=status,
        created_at=now,
        updated_at=now,
        task_type=TaskType.super_resolution,
        source_url="http://127.0.0.1:9/gone.mp4",
        source_key="sources/ws_1/task_1",
        media=media,
    )
    ctx: Any = SimpleNamespace(store=OneTaskStore(task), blobs=NoBlobs())
    payload = TaskExecutionInput(
        task_id="task_1", workspace_id="ws_1", task_type=TaskType.super_resolution, source_url=task.source_url
    )
    assert ingest(ctx, payload) == IngestOutcome(
        task_id="task_1", status=status, segmented=False, segments=[]
    )
