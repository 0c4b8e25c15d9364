"""Worker robustness: SIGKILL mid-task → reclaimed, one output, one webhook; SIGTERM mid-task → handed back,
not counted as a delivery; cancel mid-task → stops fast."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from framelane.adapters.redis_streams import GROUP
from framelane.config import Settings
from framelane.engines.base import EngineRegistry
from framelane.media.samples import make_sample_clip
from framelane.models import RenderMessage, TaskType
from framelane.services.context import ServiceContext
from framelane.worker.runtime import worker_from_settings
from framelane.worker.sagemaker import serving_app
from tests.support.engines import register
from tests.support.servers import LoopbackServer, loopback_server

from .pipeline_helpers import spawn_worker, thread_worker, wait_for_task, wait_for_task_condition

ROUTE = "/v1/tasks/super-resolution"


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[LoopbackServer]:
    with loopback_server() as server:
        server.serve_bytes("/clip.mp4", make_sample_clip(tmp_path / "clip.mp4", seconds=2).read_bytes())
        server.respond("/hook", lambda _: (200, {}, b""))
        yield server


def _completed_webhooks(origin: LoopbackServer) -> list[dict[str, object]]:
    bodies = [json.loads(r.body) for r in origin.received("/hook")]
    return [b for b in bodies if b["type"] == "task.completed"]


def test_killed_worker_task_is_reclaimed_once(
    papi: httpx.Client, pipeline_settings: Settings, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    slow = spawn_worker(pipeline_settings, "doomed", engine_delay=0.1)  # 50 frames → ~5 s of work
    try:
        created = papi.post(
            ROUTE, json={"source_url": origin.url + "/clip.mp4", "webhook_url": origin.url + "/hook"}
        )
        task_id = created.json()["id"]
        wait_for_task_condition(
            papi,
            task_id,
            lambda task: task["progress_stage"] == "compositing" and task["progress_percent"] >= 20,
            timeout=60,
            what="20% composited",
        )
        slow.send_signal(signal.SIGKILL)
        slow.wait()
    finally:
        if slow.poll() is None:
            slow.kill()
    renders: list[str] = []  # one entry per render the rescuer starts: the output key hides a second one
    registry = EngineRegistry()
    register(registry)
    invert = registry.factories[TaskType.super_resolution]
    registry.register(
        TaskType.super_resolution, lambda options, media: renders.append(task_id) or invert(options, media)
    )
    assert pipeline_settings.redis_url is not None
    raw = redis.Redis.from_url(pipeline_settings.redis_url, decode_responses=True)
    stream = f"{pipeline_settings.stream_prefix}:{TaskType.super_resolution}"

    def entries() -> list[str]:
        return [i for i, f in raw.xrange(stream) if json.loads(f["message"])["task_id"] == task_id]

    with thread_worker(pipeline_ctx, "rescuer", registry):
        task = wait_for_task(papi, task_id, timeout=90)
        deadline = time.monotonic() + 30  # settled: no entry is left that a worker could take again
        while entries():
            assert time.monotonic() < deadline, f"entries left for the finished task: {entries()}"
            time.sleep(0.1)
    assert task["status"] == "completed", task
    assert renders == [task_id]
    keys = pipeline_ctx.blobs._client.list_objects_v2(  # exactly one output object (+ its C2PA report)
        Bucket=pipeline_ctx.blobs.bucket, Prefix=f"outputs/{task['workspace_id']}/{task_id}/"
    )["Contents"]
    assert [k["Key"].rsplit("/", 1)[1] for k in keys] == ["credentials.json", "output.mp4"]
    deadline = time.monotonic() + 30
    while not _completed_webhooks(origin):
        assert time.monotonic() < deadline, "no task.completed webhook"
        time.sleep(0.1)
    assert len(_completed_webhooks(origin)) == 1


def test_worker_shut_down_mid_render_hands_its_entry_back_uncounted(
    papi: httpx.Client, pipeline_settings: Settings, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    """SIGTERM releases the task: the entry is reclaimable at once and the release is not a delivery (only
    a worker that really abandons an entry uses up one of its attempts)."""
    leaving = spawn_worker(pipeline_settings, "leaving", engine_delay=0.1)
    try:
        task_id = papi.post(ROUTE, json={"source_url": origin.url + "/clip.mp4"}).json()["id"]
        wait_for_task_condition(
            papi,
            task_id,
            lambda task: task["progress_stage"] == "compositing",
            timeout=60,
            what="compositing",
        )
        leaving.send_signal(signal.SIGTERM)
        assert leaving.wait(30) == 0
    finally:
        if leaving.poll() is None:
            leaving.kill()
    assert pipeline_settings.redis_url is not None
    raw = redis.Redis.from_url(pipeline_settings.redis_url, decode_responses=True)
    workspace_id = papi.get(f"/v1/tasks/{task_id}").json()["workspace_id"]
    stream = f"{pipeline_settings.stream_prefix}:{TaskType.super_resolution}:{workspace_id}"
    [entry_id] = [i for i, f in raw.xrange(stream) if json.loads(f["message"])["task_id"] == task_id]
    [pending] = raw.xpending_range(stream, GROUP, min=entry_id, max=entry_id, count=1)
    assert pending["times_delivered"] == 0
    assert pending["time_since_delivered"] >= pipeline_settings.worker_visibility_timeout * 1000
    with thread_worker(pipeline_ctx, "successor"):
        task = wait_for_task(papi, task_id, timeout=60)
    assert task["status"] == "completed", task


def test_cancel_mid_processing_stops_the_worker(
    papi: httpx.Client, pipeline_settings: Settings, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    broker = pipeline_ctx.broker
    assert broker is not None
    # 50 frames at 1.2 s each: a worker that rendered on would hold the task for about a minute
    worker = spawn_worker(pipeline_settings, "cancellable", engine_delay=1.2)
    try:
        created = papi.post(
            ROUTE, json={"source_url": origin.url + "/clip.mp4", "webhook_url": origin.url + "/hook"}
        )
        task_id = created.json()["id"]
        task = wait_for_task_condition(
            papi,
            task_id,
            lambda task: task["progress_stage"] == "compositing",
            timeout=60,
            what="compositing",
        )
        cancelled = papi.post(f"/v1/tasks/{task_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        # the worker holds the task's lease (renewed every second) while it renders; the keeper drops the
        # stream entry of a cancelled task by itself, so only the lease shows whether the worker let go
        deadline = time.monotonic() + 30  # half the render: only a worker that stopped lets go by then
        while broker.is_leased(task_id):
            assert papi.get(f"/v1/tasks/{task_id}").json()["status"] == "cancelled"
            assert time.monotonic() < deadline, "the worker rendered on after the cancel"
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    listing = pipeline_ctx.blobs._client.list_objects_v2(
        Bucket=pipeline_ctx.blobs.bucket, Prefix=f"outputs/{task['workspace_id']}/{task_id}/"
    )
    assert listing.get("KeyCount", 0) == 0
    assert papi.get(f"/v1/tasks/{task_id}").json()["output"] is None
    assert _completed_webhooks(origin) == []


def test_sagemaker_serving_mode_renders_a_message(
    papi: httpx.Client, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    created = papi.post(ROUTE, json={"source_url": origin.url + "/clip.mp4", "scale": 1.5})
    task = wait_for_task(papi, created.json()["id"], until={"queued"})
    broker = pipeline_ctx.broker
    assert broker is not None
    registry = EngineRegistry()
    register(registry)
    worker = worker_from_settings(pipeline_ctx, registry, consumer="sagemaker")
    with TestClient(serving_app(worker)) as client:
        assert client.get("/ping").status_code == 200
        message = RenderMessage(
            task_id=task["id"],
            workspace_id=task["workspace_id"],
            task_type=TaskType.super_resolution,
            task_token="from-an-async-invocation",
        )
        response = client.post("/invocations", json=message.model_dump(mode="json"))
    assert response.status_code == 200 and response.json() == {"task_id": task["id"], "status": "completed"}
    finished = papi.get(f"/v1/tasks/{task['id']}").json()
    assert finished["output"]["width"] == 160  # the test engine keeps the size
    with thread_worker(
        pipeline_ctx
    ):  # the stream still holds the entry: a worker settles it without re-rendering
        deadline = time.monotonic() + 30
        while broker.backlog(TaskType.super_resolution) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert broker.backlog(TaskType.super_resolution) == 0
