"""Cancel at every point of a task's life, against real DynamoDB (moto) and, where a worker is involved, the
real pipeline: queued, during the ingest download, racing the render's completion either way, and afterwards."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from framelane.config import Settings
from framelane.engines.base import EngineRegistry
from framelane.errors import TaskCancelled, TaskNotCancellable
from framelane.media.samples import make_sample_clip
from framelane.models import JobOutput, TaskExecutionInput, TaskStatus, TaskType, WorkspaceCreated
from framelane.services.context import ServiceContext
from framelane.services.ingest import ingest
from framelane.services.render import RenderCancelled, complete
from framelane.services.task_state import LIVE, load_task, transition
from framelane.services.tasks import cancel_task
from tests.support.engines import register
from tests.support.servers import LoopbackServer, Recorded, loopback_server

from .conftest import Stack
from .pipeline_helpers import thread_worker, wait_for_task_condition


@pytest.fixture
def clip(tmp_path: Path) -> bytes:
    return make_sample_clip(tmp_path / "clip.mp4", seconds=1).read_bytes()


@pytest.fixture
def origin(clip: bytes) -> Iterator[LoopbackServer]:
    with loopback_server() as server:
        server.serve_bytes("/clip.mp4", clip)
        yield server


def _stored(stack: Stack, api: httpx.Client, route: str = "/v1/tasks/gaze-redirect", **body: object) -> str:
    """A task of the API-only stack: stored, never started (no state machine), so the test plays the pipeline."""
    created = api.post(route, json={"source_url": "https://cdn.example.com/clip.mp4", **body})
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


def test_a_cancel_during_the_ingest_download_is_kept(
    stack: Stack, api: httpx.Client, workspace: WorkspaceCreated, origin: LoopbackServer, clip: bytes
) -> None:
    task_id = _stored(stack, api)

    def cancel_then_serve(_: Recorded) -> tuple[int, dict[str, str], bytes]:
        # the caller cancels while the bytes are on the way
        cancelled = api.post(f"/v1/tasks/{task_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        return 200, {"Content-Type": "video/mp4"}, clip

    source = origin.respond("/slow.mp4", cancel_then_serve)
    payload = TaskExecutionInput(
        task_id=task_id,
        workspace_id=workspace.workspace_id,
        task_type=TaskType.gaze_redirect,
        source_url=source,
    )
    with pytest.raises(TaskCancelled):
        ingest(stack.ctx, payload)
    assert len(origin.received("/slow.mp4")) == 1  # the download really ran
    task = api.get(f"/v1/tasks/{task_id}").json()
    assert task["status"] == "cancelled" and task["error"] is None, task


def test_a_cancel_that_loses_the_race_to_completion_undoes_nothing(
    stack: Stack, api: httpx.Client, workspace: WorkspaceCreated, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = _stored(stack, api)
    store = stack.ctx.store
    before = load_task(stack.ctx, workspace.workspace_id, task_id)
    # the render completes between the cancel's read of the task and its conditional write
    assert transition(stack.ctx, before, LIVE, status=TaskStatus.completed, progress_percent=100) is not None
    reads = iter([before])
    real_get_task = store.get_task
    monkeypatch.setattr(store, "get_task", lambda ws, task: next(reads, None) or real_get_task(ws, task))
    owner = real_get_task.__self__.get_workspace(workspace.workspace_id)  # type: ignore[attr-defined]
    assert owner is not None
    with pytest.raises(TaskNotCancellable, match="already completed"):
        cancel_task(stack.ctx, owner, task_id)
    monkeypatch.undo()
    assert api.get(f"/v1/tasks/{task_id}").json()["status"] == "completed"
    after = api.post(f"/v1/tasks/{task_id}/cancel")  # and a cancel after completion is refused outright
    assert after.status_code == 409 and after.json()["error"]["code"] == "task_not_cancellable"
    assert api.get(f"/v1/tasks/{task_id}").json()["status"] == "completed"


def test_a_completion_that_loses_the_race_to_a_cancel_stores_no_output(
    stack: Stack, api: httpx.Client, workspace: WorkspaceCreated
) -> None:
    task_id = _stored(stack, api)
    queued = load_task(stack.ctx, workspace.workspace_id, task_id)
    rendering = transition(stack.ctx, queued, LIVE, status=TaskStatus.processing)
    assert rendering is not None
    assert api.post(f"/v1/tasks/{task_id}/cancel").status_code == 200  # while the last frame is encoded
    output = JobOutput(url="", width=160, height=120, duration=1.0, size_bytes=1)
    with pytest.raises(RenderCancelled):
        complete(stack.ctx, rendering, output, f"outputs/{workspace.workspace_id}/{task_id}/output.mp4")
    task = api.get(f"/v1/tasks/{task_id}").json()
    assert task["status"] == "cancelled" and task["output"] is None, task


def test_a_task_cancelled_while_queued_is_never_rendered(
    papi: httpx.Client, pipeline_settings: Settings, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    created = papi.post("/v1/tasks/gaze-redirect", json={"source_url": origin.url + "/clip.mp4"})
    task_id = created.json()["id"]
    task = wait_for_task_condition(
        papi, task_id, lambda task: task["status"] == "queued", timeout=60, what="queued"
    )
    assert pipeline_settings.redis_url is not None
    raw = redis.Redis.from_url(pipeline_settings.redis_url, decode_responses=True)
    stream = f"{pipeline_settings.stream_prefix}:{TaskType.gaze_redirect}:{task['workspace_id']}"

    def entries() -> list[str]:
        if not raw.exists(stream):
            return []
        return [i for i, f in raw.xrange(stream) if json.loads(f["message"])["task_id"] == task_id]

    deadline = time.monotonic() + 30
    while not entries():  # queued in the broker, waiting for a worker
        assert time.monotonic() < deadline, "the task never reached the render stream"
        time.sleep(0.05)
    assert papi.post(f"/v1/tasks/{task_id}/cancel").status_code == 200
    renders: list[str] = []  # one entry per engine the worker creates
    registry = EngineRegistry()
    register(registry)
    invert = registry.factories[TaskType.gaze_redirect]
    registry.register(
        TaskType.gaze_redirect, lambda options, media: renders.append("render") or invert(options, media)
    )
    with thread_worker(pipeline_ctx, "after-cancel", registry):
        deadline = time.monotonic() + 30  # the entry is dropped (keeper) or settled (worker): either way gone
        while entries():
            assert time.monotonic() < deadline, f"entries left for the cancelled task: {entries()}"
            time.sleep(0.1)
    assert renders == []
    assert papi.get(f"/v1/tasks/{task_id}").json()["status"] == "cancelled"
    listing = pipeline_ctx.blobs._client.list_objects_v2(
        Bucket=pipeline_ctx.blobs.bucket, Prefix=f"outputs/{task['workspace_id']}/{task_id}/"
    )
    assert listing.get("KeyCount", 0) == 0
