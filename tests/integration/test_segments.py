"""Long sources in segments through the real local stack: ingest cuts the source at its keyframes, the Map state
(moto) renders each segment as its own broker message on two real workers, Stitch joins them; the result is
compared with an unsegmented render of the same source (frame count, timestamps, audio, seams)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from framelane.adapters.aws import sfn_client
from framelane.adapters.redis_streams import GROUP, Delivery, RedisBroker
from framelane.api.app import create_app
from framelane.config import Settings
from framelane.engines.base import EngineRegistry, load_registry
from framelane.local.in_process import start_in_process_pipeline, with_local_pipeline
from framelane.media.formats import VP9_ALPHA_WEBM
from framelane.media.samples import make_sample_clip
from framelane.media.transcode import render
from framelane.models import TaskType, WorkspaceCreated
from framelane.services import render as render_service
from framelane.services.context import ServiceContext, build_context
from framelane.services.render import render_segment as runtime_render_segment
from framelane.services.workspaces import create_workspace
from framelane.worker import runtime
from framelane.worker.runtime import RendererWorker, worker_from_settings
from tests.support.engines import InvertEngine, register
from tests.support.servers import loopback_server

from .conftest import PIPELINE_OVERRIDES, Stack, serve_app
from .pipeline_helpers import spawn_worker, thread_worker, wait_for_task

SEGMENTED = {
    **PIPELINE_OVERRIDES,
    "stream_prefix": "flseg:tasks",
    "segment_threshold_seconds": 2.0,  # a 4 s clip in 1 s segments
    "segment_seconds": 1.0,
    "segment_warmup_seconds": 0.5,
    "segment_max_concurrency": 2,
}


@pytest.fixture(scope="module")
def seg_ctx(stack: Stack) -> Iterator[ServiceContext]:
    settings: Settings = with_local_pipeline(stack.settings.model_copy(update=SEGMENTED), name="flseg")
    ctx = build_context(settings)
    in_process = start_in_process_pipeline(ctx, engines=None)
    yield ctx
    in_process.stop()


@pytest.fixture(scope="module")
def seg_api(seg_ctx: ServiceContext) -> Iterator[httpx.Client]:
    workspace: WorkspaceCreated = create_workspace(seg_ctx, "segments")
    with serve_app(create_app(seg_ctx.settings, seg_ctx)) as url:
        headers = {"Authorization": f"Bearer {workspace.api_key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            yield client


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sample_clip(
        tmp_path_factory.mktemp("long") / "clip.mp4", seconds=4, width=160, height=120, keyframe_interval=25
    )


def _watch(api: httpx.Client, task_id: str, timeout: float) -> tuple[dict[str, Any], list[int]]:
    """Poll the task until it ends; every progress_percent seen on the way."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = api.get(f"/v1/tasks/{task_id}").json()
        seen.append(task["progress_percent"])
        if task["status"] in {"completed", "failed", "cancelled"}:
            return task, seen
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not end in {timeout}s")


def _history(ctx: ServiceContext, task_id: str) -> list[dict[str, Any]]:
    machine = ctx.settings.task_state_machine_arn
    assert machine is not None
    execution = machine.replace(":stateMachine:", ":execution:") + f":{task_id}"
    pages = sfn_client(ctx.settings).get_paginator("get_execution_history").paginate(executionArn=execution)
    return [event for page in pages for event in page["events"]]


def _entered(events: list[dict[str, Any]]) -> list[str]:
    return [
        details["name"] for event in events if (details := event.get("stateEnteredEventDetails")) is not None
    ]


def _frames(path: Path) -> tuple[list[np.ndarray], list[int], list[float]]:
    """RGBA frames (VP9 alpha decoded with libvpx), video pts, and the first audio packet times."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        frames, pts = [], []
        for packet in container.demux(stream):
            for frame in decoder.decode(packet):
                frames.append(frame.to_ndarray(format="rgba"))
                pts.append(frame.pts)
    with av.open(str(path)) as container:
        audio = [float(p.pts * p.time_base) for p in container.demux(audio=0) if p.pts is not None][:3]
    return frames, pts, audio


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a[..., :3].astype(np.float32) - b[..., :3].astype(np.float32)) ** 2))
    return 10 * float(np.log10(255.0**2 / max(mse, 1e-9)))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x, y = a[..., 3] >= 128, b[..., 3] >= 128
    union = np.logical_or(x, y).sum()
    return 1.0 if union == 0 else float(np.logical_and(x, y).sum() / union)


def test_long_source_renders_in_segments_like_one_render(
    seg_api: httpx.Client, seg_ctx: ServiceContext, clip: Path, tmp_path: Path
) -> None:
    registry = load_registry("")  # the real background engine (temporal matte smoothing)
    with loopback_server() as origin, ExitStack() as workers:
        source = origin.serve_bytes("/clip.mp4", clip.read_bytes())
        created = seg_api.post("/v1/tasks/remove-background", json={"source_url": source})
        assert created.status_code == 202, created.text
        task_id = created.json()["id"]
        for name in ("seg-a", "seg-b"):
            workers.enter_context(thread_worker(seg_ctx, name, registry))
        task, seen = _watch(seg_api, task_id, timeout=150)
    assert task["status"] == "completed", task
    assert seen == sorted(seen), "progress went backwards"
    stored = seg_ctx.store.get_task(task["workspace_id"], task_id)
    assert stored is not None and stored.segments is not None
    assert [s.frames for s in stored.segments] == [25, 25, 25, 25]
    entered = _entered(_history(seg_ctx, task_id))
    assert entered.count("RenderSegment") == 4 and entered.count("Stitch") == 1 and "Render" not in entered
    assert not any(
        seg_ctx.blobs.exists(f"segments/{task['workspace_id']}/{task_id}/part-{i:05d}.webm") for i in range(4)
    )

    chunked = tmp_path / "chunked.webm"
    chunked.write_bytes(httpx.get(task["output"]["url"]).content)
    whole = tmp_path / "whole.webm"
    engine = registry.create(stored.task_type, stored.options, stored.media)  # type: ignore[arg-type]
    render(str(clip), str(whole), engine, VP9_ALPHA_WEBM)

    got, got_pts, got_audio = _frames(chunked)
    want, want_pts, want_audio = _frames(whole)
    assert len(got) == len(want) == 100
    assert got_pts == want_pts  # no duplicated or missing frame at a seam, the source's times
    assert got_audio == want_audio and got_audio[0] == 0.0  # the audio once, from the start
    seams = {25, 50, 75}
    psnr = {i: _psnr(got[i - 1], got[i]) for i in range(1, len(got))}
    iou = {i: _iou(got[i - 1], got[i]) for i in range(1, len(got))}
    inner_psnr = min(v for i, v in psnr.items() if i not in seams)
    inner_iou = min(v for i, v in iou.items() if i not in seams)
    for seam in seams:
        assert psnr[seam] >= inner_psnr - 0.5, (seam, psnr[seam], inner_psnr)
        assert iou[seam] >= inner_iou - 0.01, (seam, iou[seam], inner_iou)
        # and the chunked frame is the unsegmented one up to codec loss
        assert _psnr(got[seam], want[seam]) > 30
        assert _iou(got[seam], want[seam]) > 0.97


def _submit(api: httpx.Client, origin_url: str) -> str:
    created = api.post("/v1/tasks/gaze-redirect", json={"source_url": origin_url})
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


def _units(ctx: ServiceContext, task_id: str) -> list[str]:
    """Dispatch records (segments, stitch) of the task still waiting for an answer."""
    return [r.unit_id for r in ctx.store.list_render_dispatches() if r.task_id == task_id]


@pytest.fixture
def segment_renders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(task id, segment) of each segment a worker thread of this process really renders (frames decoded and
    encoded), in order; a delivery that only answers for a segment rendered before is not one."""
    renders: list[tuple[str, int]] = []
    unit = threading.local()

    def delivered(*args: Any, **kwargs: Any) -> None:
        unit.current = (args[2].id, args[3])  # ctx, engines, task, index, stopping
        runtime_render_segment(*args, **kwargs)

    def rendering(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("segment") is not None:
            renders.append(unit.current)
        return render(*args, **kwargs)

    monkeypatch.setattr(runtime, "render_segment", delivered)
    monkeypatch.setattr(render_service, "render", rendering)
    return renders


def _invert_registry() -> EngineRegistry:
    registry = EngineRegistry()
    for task_type in (TaskType.gaze_redirect, TaskType.remove_background):
        registry.register(task_type, lambda options, media: InvertEngine(0.0))
    return registry


def _parts(workspace_id: str, task_id: str) -> list[str]:
    return [f"segments/{workspace_id}/{task_id}/part-{i:05d}.mp4" for i in range(4)]


class _LostBeforeAck:
    """The broker as seen by a worker that dies right after answering its first unit's token, before the ACK:
    the entry stays pending under its name, as a SIGKILL in that gap leaves it."""

    def __init__(self, broker: RedisBroker, worker: RendererWorker) -> None:
        self._broker, self._worker = broker, worker
        self.lost: list[Delivery] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def ack(self, delivery: Delivery) -> None:
        self.lost.append(delivery)
        self._worker.stopping.set()


def test_a_segment_answered_but_never_acked_is_not_rendered_again(
    seg_api: httpx.Client,
    seg_ctx: ServiceContext,
    clip: Path,
    segment_renders: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The entry of a finished segment comes back (reclaimed after its worker died between answering and ACK):
    the next worker answers it without rendering it again."""
    assert seg_ctx.broker is not None
    registry = _invert_registry()
    lost_worker = worker_from_settings(seg_ctx, registry, consumer="lost-before-ack")
    broker = _LostBeforeAck(seg_ctx.broker, lost_worker)
    monkeypatch.setattr(lost_worker, "broker", broker)
    with loopback_server() as origin:
        task_id = _submit(seg_api, origin.serve_bytes("/clip.mp4", clip.read_bytes()))
        thread = threading.Thread(target=lost_worker.run, daemon=True)
        thread.start()
        thread.join(60)
        assert not thread.is_alive() and len(broker.lost) == 1
        (delivery,) = broker.lost
        assert delivery.message is not None and delivery.message.segment is not None
        index = delivery.message.segment
        assert seg_ctx.blobs.exists(_parts(delivery.workspace_id, task_id)[index])
        assert f"{task_id}#s{index}" not in _units(seg_ctx, task_id)  # answered: the Map has moved on
        # idle past the visibility timeout: the survivor's first look takes the entry over
        stream = seg_ctx.broker.stream(delivery.task_type, delivery.workspace_id)
        idle_ms = seg_ctx.settings.worker_visibility_timeout * 1000
        deadline = time.monotonic() + 30
        while (
            seg_ctx.broker._redis.xpending_range(stream, GROUP, delivery.entry_id, delivery.entry_id, 1)[0][
                "time_since_delivered"
            ]
            < idle_ms
        ):
            assert time.monotonic() < deadline, "the entry never went idle"
            time.sleep(0.1)
        with thread_worker(seg_ctx, "survivor", registry):
            finished = wait_for_task(seg_api, task_id, timeout=90)
    assert finished["status"] == "completed", finished
    assert sorted(i for task, i in segment_renders if task == task_id) == [0, 1, 2, 3], segment_renders
    assert seg_ctx.broker.backlog(delivery.task_type) == 0  # the stale entry was answered and ACKed


def test_a_worker_killed_mid_segment_costs_only_its_segment(
    seg_api: httpx.Client, seg_ctx: ServiceContext, clip: Path, segment_renders: list[tuple[str, int]]
) -> None:
    registry = _invert_registry()
    with loopback_server() as origin:
        task_id = _submit(seg_api, origin.serve_bytes("/clip.mp4", clip.read_bytes()))
        doomed = spawn_worker(seg_ctx.settings, "doomed", engine_delay=0.05)  # about 1.3 s per segment
        try:
            workspace = wait_for_task(seg_api, task_id, until={"processing"}, timeout=60)["workspace_id"]
            deadline = time.monotonic() + 60
            parts = _parts(workspace, task_id)
            while not seg_ctx.blobs.exists(parts[0]):  # one segment done, the next ones under way
                assert time.monotonic() < deadline, "the first segment was not rendered"
                time.sleep(0.05)
            time.sleep(0.5)
        finally:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(30)
        stored = {i for i in range(4) if seg_ctx.blobs.exists(parts[i])}  # rendered before the kill
        assert 1 <= len(stored) < 4
        with thread_worker(seg_ctx, "survivor", registry):
            finished = wait_for_task(seg_api, task_id, timeout=90)
    assert finished["status"] == "completed", finished
    # the survivor (a thread of this process) renders each segment not stored at the kill once, no other
    rendered = sorted(i for task, i in segment_renders if task == task_id)
    assert rendered == sorted(set(range(4)) - stored), (rendered, stored)
    assert _units(seg_ctx, task_id) == []


def test_cancelling_a_segmented_task_stops_every_segment(
    seg_api: httpx.Client, seg_ctx: ServiceContext, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAMELANE_TEST_ENGINE_DELAY", "0.05")
    registry = EngineRegistry()
    register(registry)
    broker = seg_ctx.broker
    assert broker is not None
    with loopback_server() as origin, ExitStack() as workers:
        task_id = _submit(seg_api, origin.serve_bytes("/clip.mp4", clip.read_bytes()))
        for name in ("cancel-a", "cancel-b"):
            workers.enter_context(thread_worker(seg_ctx, name, registry))
        wait_for_task(seg_api, task_id, until={"processing"}, timeout=60)
        assert seg_api.post(f"/v1/tasks/{task_id}/cancel").json()["status"] == "cancelled"
        deadline = time.monotonic() + 20
        while _units(seg_ctx, task_id) or broker.backlog(TaskType.gaze_redirect):
            assert time.monotonic() < deadline, (
                _units(seg_ctx, task_id),
                broker.backlog(TaskType.gaze_redirect),
            )
            time.sleep(0.1)
    task = seg_api.get(f"/v1/tasks/{task_id}").json()
    assert task["status"] == "cancelled" and task["output"] is None


def test_a_segmented_gaze_task_without_any_face_fails_no_face_detected(
    seg_api: httpx.Client, seg_ctx: ServiceContext, clip: Path
) -> None:
    """Each segment's engine finds no face; only the stitch, seeing that every segment found none, fails."""
    with loopback_server() as origin, thread_worker(seg_ctx, "no-face", load_registry("")):
        task_id = _submit(seg_api, origin.serve_bytes("/clip.mp4", clip.read_bytes()))
        task = wait_for_task(seg_api, task_id, timeout=90)
    assert task["status"] == "failed" and task["error"]["code"] == "no_face_detected", task
    entered = _entered(_history(seg_ctx, task_id))
    assert entered.count("RenderSegment") == 4 and "Stitch" in entered
    listing = seg_ctx.blobs._client.list_objects_v2(
        Bucket=seg_ctx.blobs.bucket, Prefix=f"segments/{task['workspace_id']}/{task_id}/"
    )
    assert listing.get("KeyCount", 0) == 0


def test_the_keeper_adds_lost_segment_entries_again_from_their_records(
    seg_api: httpx.Client, seg_ctx: ServiceContext, clip: Path
) -> None:
    """Redis loses the waiting segment entries (failover): each segment's own dispatch record brings it back."""
    broker = seg_ctx.broker
    assert broker is not None
    raw = broker._redis
    with loopback_server() as origin:
        task_id = _submit(seg_api, origin.serve_bytes("/clip.mp4", clip.read_bytes()))
        deadline = time.monotonic() + 60
        while len(units := _units(seg_ctx, task_id)) < 2:  # MaxConcurrency 2: two segments dispatched
            assert time.monotonic() < deadline, units
            time.sleep(0.1)
        assert sorted(units) == [f"{task_id}#s0", f"{task_id}#s1"]
        stream = broker.stream(
            TaskType.gaze_redirect, seg_api.get(f"/v1/tasks/{task_id}").json()["workspace_id"]
        )
        lost = [entry_id for entry_id, _ in raw.xrange(stream)]
        raw.xdel(stream, *lost)
        records = {r.unit_id: r for r in seg_ctx.store.list_render_dispatches() if r.task_id == task_id}
        while any(
            (record := seg_ctx.store.get_render_dispatch(unit)) is not None and record.entry_id in lost
            for unit in records
        ):
            assert time.monotonic() < deadline, "the keeper did not add the segments again"
            time.sleep(0.2)
        registry = EngineRegistry()
        register(registry)
        with thread_worker(seg_ctx, "after-loss", registry):
            task = wait_for_task(seg_api, task_id, timeout=60)
    assert task["status"] == "completed", task
