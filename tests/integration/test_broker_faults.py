"""The renderer broker under mixed load and faults, against real parts: a redis-server of this module's own
(SIGKILLed and started again empty), moto executing the task state machine (Render heartbeat 3 s), the pollers
with the render queue keeper (every 1 s), the API under uvicorn, workers in threads with the test engine."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from framelane.adapters.redis_streams import GROUP
from framelane.api.app import create_app
from framelane.engines.base import EngineRegistry
from framelane.local.bootstrap import bootstrap_stores
from framelane.local.in_process import start_in_process_pipeline, with_local_pipeline
from framelane.media.samples import make_sample_clip
from framelane.models import TaskType
from framelane.services.context import ServiceContext, build_context
from framelane.services.render_queue import tend_render_queue
from framelane.services.workspaces import create_workspace
from tests.support.engines import register
from tests.support.redis_server import RestartableRedis, restartable_redis
from tests.support.servers import LoopbackServer, loopback_server

from .conftest import PIPELINE_OVERRIDES, Stack, serve_app
from .pipeline_helpers import thread_worker, wait_for_task

ROUTES = {
    TaskType.remove_background: "/v1/tasks/remove-background",
    TaskType.gaze_redirect: "/v1/tasks/gaze-redirect",
    TaskType.super_resolution: "/v1/tasks/super-resolution",
}
PREFIX = "flfault:tasks"


@dataclass
class Faults:
    redis: RestartableRedis
    ctx: ServiceContext
    api: httpx.Client
    origin: LoopbackServer
    raw: redis.Redis
    workspace_id: str

    def stream(self, task_type: TaskType) -> str:
        return f"{PREFIX}:{task_type}:{self.workspace_id}"

    def submit(self, task_type: TaskType) -> str:
        created = self.api.post(ROUTES[task_type], json={"source_url": self.origin.url + "/clip.mp4"})
        assert created.status_code == 202, created.text
        return str(created.json()["id"])

    def waiting(self) -> int:
        assert self.ctx.broker is not None
        return sum(self.ctx.broker.backlog(t) for t in ROUTES)

    def wait_until_waiting(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.waiting() < count:
            assert time.monotonic() < deadline, f"only {self.waiting()} of {count} entries reached the stream"
            time.sleep(0.1)

    def entry(self, task_type: TaskType, task_id: str, timeout: float = 60) -> tuple[str, dict[str, str]]:
        """The task's own entry, once dispatched: `wait_until_waiting` alone can be satisfied by an entry an
        earlier test left (a hung worker's, still pending), before this task's entry reaches the stream."""
        deadline = time.monotonic() + timeout
        while True:
            for entry_id, fields in self.raw.xrange(self.stream(task_type)):
                if json.loads(fields["message"]).get("task_id") == task_id:
                    return entry_id, fields
            assert time.monotonic() < deadline, f"no stream entry for {task_id}"
            time.sleep(0.1)

    def replace_entry(self, task_type: TaskType, task_id: str, message: str) -> None:
        """Swap the task's entry for `message`, pointing its dispatch record at the new one first."""
        entry_id, _ = self.entry(task_type, task_id)
        replacement = self.raw.xadd(self.stream(task_type), {"message": message})
        assert self.ctx.store.set_render_entry(task_id, str(replacement))
        self.raw.xdel(self.stream(task_type), entry_id)


@pytest.fixture(scope="module")
def faults(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    clip = make_sample_clip(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=1).read_bytes()
    with (
        restartable_redis(tmp_path_factory.mktemp("redis")) as redis_server,
        loopback_server() as origin,
    ):
        origin.serve_bytes("/clip.mp4", clip)
        overrides = {
            **PIPELINE_OVERRIDES,
            "redis_url": redis_server.url,
            "stream_prefix": PREFIX,
            # its own table and bucket: the session pipeline's keeper never sees these dispatch records, and
            # the session bucket's upload notification keeps pointing at the session pipeline
            "table_name": "flfault",
            "bucket": "flfault-media",
            "render_heartbeat_seconds": 3,
            "render_queue_keeper_interval": 1.0,
        }
        base = stack.settings.model_copy(update=overrides)
        bootstrap_stores(build_context(base))
        settings = with_local_pipeline(base, name="flfault")
        ctx = build_context(settings)
        in_process = start_in_process_pipeline(ctx, engines=None)
        try:
            with serve_app(create_app(settings, ctx)) as url:
                workspace = create_workspace(ctx, "faults")
                headers = {"Authorization": f"Bearer {workspace.api_key}"}
                with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
                    raw = redis.Redis.from_url(redis_server.url, decode_responses=True)
                    yield Faults(redis_server, ctx, api, origin, raw, workspace.workspace_id)
        finally:
            in_process.stop()


class _HeldSampler:
    """Samples how many entries the consumer holds (its pending count) while it works, and the most times any
    entry was delivered (above 1: it was reclaimed)."""

    def __init__(self, faults: Faults, consumer: str, entry: tuple[TaskType, str] | None = None) -> None:
        """`entry` (its task type and id): count the deliveries of that entry only, not of any left over."""
        self.faults, self.consumer, self.entry = faults, consumer, entry
        self.most = 0
        self.most_deliveries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _HeldSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            held = 0
            for task_type in ROUTES:
                stream = self.faults.stream(task_type)
                if not self.faults.raw.exists(stream):
                    continue
                summary = self.faults.raw.xpending(stream, GROUP)
                held += sum(c["pending"] for c in summary["consumers"] if c["name"] == self.consumer)
                if self.entry is not None and self.entry[0] is not task_type:
                    continue
                first, last = (self.entry[1], self.entry[1]) if self.entry else ("-", "+")
                for entry in self.faults.raw.xpending_range(stream, GROUP, first, last, 20):
                    self.most_deliveries = max(self.most_deliveries, entry["times_delivered"])
            self.most = max(self.most, held)


class _RenderCount:
    """The test engine for one task type, counting the renders it starts (a take-over renders again)."""

    def __init__(self, task_type: TaskType) -> None:
        self.count = 0
        self.registry = EngineRegistry()
        register(self.registry)
        make = self.registry.factories[task_type]

        def counted(options: Any, media: Any) -> Any:
            self.count += 1
            return make(options, media)

        self.registry.register(task_type, counted)


def test_one_worker_holds_one_entry_and_serves_the_types_in_turn(faults: Faults) -> None:
    ids = [faults.submit(task_type) for _ in range(2) for task_type in ROUTES]
    faults.wait_until_waiting(len(ids))
    with _HeldSampler(faults, "solo") as sampler, thread_worker(faults.ctx, "solo"):
        tasks = [wait_for_task(faults.api, task_id, timeout=120) for task_id in ids]
    assert [task["status"] for task in tasks] == ["completed"] * len(ids), [j.get("error") for j in tasks]
    assert sampler.most == 1, f"the worker held {sampler.most} entries at once"
    assert sampler.most_deliveries == 1, "an entry was reclaimed"
    first_three = sorted(tasks, key=lambda task: task["completed_at"])[:3]
    assert {task["task_type"] for task in first_three} == {t.value for t in ROUTES}
    assert faults.waiting() == 0


def test_poison_entry_fails_its_task_at_once(faults: Faults) -> None:
    task_id = faults.submit(TaskType.super_resolution)
    faults.wait_until_waiting(1)
    _, fields = faults.entry(TaskType.super_resolution, task_id)
    broken = json.loads(fields["message"])
    del broken["workspace_id"]
    faults.replace_entry(TaskType.super_resolution, task_id, json.dumps(broken))
    dead_before = faults.raw.xlen(f"{PREFIX}:dead")
    with thread_worker(faults.ctx, "poisoned"):
        task = wait_for_task(faults.api, task_id, timeout=30)
    assert task["status"] == "failed", task
    assert task["error"]["code"] == "internal_error", task["error"]
    assert "could not be processed" in task["error"]["message"]  # not the step's heartbeat timeout
    assert faults.raw.xlen(f"{PREFIX}:dead") == dead_before + 1
    assert faults.waiting() == 0


def test_an_entry_abandoned_by_every_attempt_fails_its_task_as_worker_lost(faults: Faults) -> None:
    """An entry that kills each worker taking it (three died with it here) is not handed to a fourth."""
    task_id = faults.submit(TaskType.gaze_redirect)
    faults.wait_until_waiting(1)
    stream = faults.stream(TaskType.gaze_redirect)
    entry_id, _ = faults.entry(TaskType.gaze_redirect, task_id)
    [(_, taken)] = faults.raw.xreadgroup(GROUP, "died-1", {stream: ">"}, count=10)
    assert [taken_id for taken_id, _ in taken] == [entry_id]
    attempts = faults.ctx.settings.worker_max_attempts
    faults.raw.xclaim(stream, GROUP, f"died-{attempts}", 0, [entry_id], idle=60_000, retrycount=attempts)
    renders = _RenderCount(TaskType.gaze_redirect)
    with thread_worker(faults.ctx, "next-in-line", renders.registry):
        task = wait_for_task(faults.api, task_id, timeout=60)
    assert task["status"] == "failed", task
    assert task["error"] == {
        "code": "worker_lost",
        "message": f"the task was abandoned by {attempts} workers",
    }
    assert renders.count == 0
    assert faults.waiting() == 0


def test_a_worker_that_hangs_without_heartbeats_fails_its_task_as_worker_lost(faults: Faults) -> None:
    """A worker takes the entry and its lease, then hangs: no SendTaskHeartbeat comes, the Render step's
    HeartbeatSeconds (3 s here) run out on moto, and the state machine reports the task as worker_lost."""
    broker = faults.ctx.broker
    assert broker is not None
    task_id = faults.submit(TaskType.super_resolution)
    faults.wait_until_waiting(1)
    stream = faults.stream(TaskType.super_resolution)
    [(_, taken)] = faults.raw.xreadgroup(GROUP, "hung", {stream: ">"}, count=10)
    assert [json.loads(fields["message"])["task_id"] for _, fields in taken] == [task_id]
    broker.hold_lease(task_id, "hung", 120)  # the keeper leaves a leased render to its worker's heartbeat
    try:
        task = wait_for_task(faults.api, task_id, timeout=60)
    finally:
        broker.drop_lease(task_id)
    assert task["status"] == "failed", task
    assert task["error"]["code"] == "worker_lost", task["error"]


def test_two_workers_never_share_a_render_longer_than_the_visibility_timeout(
    faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 25 frames → about 5 s: past the 3 s after which an idle entry may be taken over
    monkeypatch.setenv("FRAMELANE_TEST_ENGINE_DELAY", "0.2")
    assert faults.ctx.settings.worker_visibility_timeout < 25 * 0.2
    task_id = faults.submit(TaskType.gaze_redirect)
    faults.wait_until_waiting(1)
    entry_id, _ = faults.entry(TaskType.gaze_redirect, task_id)
    renders = _RenderCount(TaskType.gaze_redirect)
    with (
        _HeldSampler(faults, "first", (TaskType.gaze_redirect, entry_id)) as sampler,
        thread_worker(faults.ctx, "first", renders.registry),
        thread_worker(faults.ctx, "second", renders.registry),
    ):
        task = wait_for_task(faults.api, task_id, timeout=90)
    assert task["status"] == "completed", task
    assert renders.count == 1, f"{renders.count} renders of one task"
    assert sampler.most_deliveries == 1, "the entry was taken over while its worker rendered"


def test_unreadable_entry_is_dead_lettered_and_added_again_from_its_record(faults: Faults) -> None:
    task_id = faults.submit(TaskType.gaze_redirect)
    faults.wait_until_waiting(1)
    faults.replace_entry(TaskType.gaze_redirect, task_id, "{not json")
    with thread_worker(faults.ctx, "reader"):
        task = wait_for_task(faults.api, task_id, timeout=60)
    assert task["status"] == "completed", task
    dead = faults.raw.xrevrange(f"{PREFIX}:dead", count=1)
    assert dead and dead[0][1]["message"] == "{not json"


def test_render_waiting_longer_than_the_running_heartbeat_completes(faults: Faults) -> None:
    task_id = faults.submit(TaskType.super_resolution)
    faults.wait_until_waiting(1)
    time.sleep(faults.ctx.settings.render_heartbeat_seconds * 3)  # no worker yet: the entry waits
    assert faults.api.get(f"/v1/tasks/{task_id}").json()["status"] == "queued"
    with thread_worker(faults.ctx, "late"):
        task = wait_for_task(faults.api, task_id, timeout=60)
    assert task["status"] == "completed", task


def test_render_no_worker_takes_in_time_fails_queue_timeout(faults: Faults) -> None:
    task_id = faults.submit(TaskType.gaze_redirect)
    faults.wait_until_waiting(1)
    impatient = dataclasses.replace(
        faults.ctx, settings=faults.ctx.settings.model_copy(update={"render_queue_wait_seconds": 0.0})
    )
    report = tend_render_queue(impatient)
    assert report.expired == 1, report
    task = wait_for_task(faults.api, task_id, timeout=30)
    assert task["status"] == "failed" and task["error"]["code"] == "queue_timeout", task
    assert faults.waiting() == 0
    assert faults.ctx.store.get_render_dispatch(task_id) is None


def test_redis_killed_and_restarted_empty_loses_no_task(
    faults: Faults, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FRAMELANE_TEST_ENGINE_DELAY", "0.03")  # 25 frames → about 1 s per render
    ids = [faults.submit(task_type) for task_type in ROUTES for _ in range(2)]
    faults.wait_until_waiting(len(ids))
    with thread_worker(faults.ctx, "survivor"):
        wait_for_task(faults.api, ids[0], until={"processing"}, timeout=60)
        faults.redis.kill()
        time.sleep(1)
        faults.redis.start()  # same port, no data: every entry and the consumer group are gone
        tasks = [wait_for_task(faults.api, task_id, timeout=120) for task_id in ids]
    assert [task["status"] for task in tasks] == ["completed"] * len(ids), [j.get("error") for j in tasks]
    blobs = faults.ctx.blobs
    for task in tasks:
        listing = blobs._client.list_objects_v2(
            Bucket=blobs.bucket, Prefix=f"outputs/{task['workspace_id']}/{task['id']}/"
        )
        names = [item["Key"].rsplit("/", 1)[1] for item in listing.get("Contents", [])]
        rendered = [n for n in names if n.startswith("output.") and not n.endswith(".c2pa")]
        assert len(rendered) == 1 and "credentials.json" in names, names  # one render, with its credentials


def test_render_survives_a_redis_outage_longer_than_the_client_retries(
    faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress events, cancel checks and the stream keepalive need Redis; none of them may fail the render or
    hold back the step's heartbeat while Redis is away for longer than one call's retries (about 10 s)."""
    monkeypatch.setenv("FRAMELANE_TEST_ENGINE_DELAY", "0.4")  # 25 frames → about 10 s
    task_id = faults.submit(TaskType.gaze_redirect)
    faults.wait_until_waiting(1)
    with thread_worker(faults.ctx, "steady"):
        task = wait_for_task(faults.api, task_id, until={"processing"}, timeout=60)
        deadline = time.monotonic() + 30
        while task["progress_stage"] != "compositing":
            assert time.monotonic() < deadline, task
            time.sleep(0.1)
            task = faults.api.get(f"/v1/tasks/{task_id}").json()
        faults.redis.kill()
        time.sleep(12)
        faults.redis.start()
        task = wait_for_task(faults.api, task_id, timeout=90)
    assert task["status"] == "completed", task
