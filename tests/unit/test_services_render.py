"""services.render over the in-memory stores, a fake broker, a test engine and a fake frame loop (media.transcode) (the real
decode/encode, stitch and C2PA signing run in tests/integration): stages and progress writes, the output recorded,
segments and their empty markers, Stitch, cancellation and shutdown."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from framelane.engines.base import EngineRegistry, Frame, FrameEngine
from framelane.errors import TaskFailure
from framelane.media.formats import PRORES_4444_MOV, OutputSpec
from framelane.media.segments import Cut
from framelane.media.transcode import RenderStats, RenderStopped
from framelane.models import (
    ContentCredentials,
    JobOutput,
    MediaInfo,
    ProgressStage,
    Segment,
    Task,
    TaskErrorCode,
    TaskStatus,
    TaskType,
    utc_now,
)
from framelane.services import render as render_module
from framelane.services.context import ServiceContext
from framelane.services.eta import Eta
from framelane.services.render import (
    CANCEL_CHECK_INTERVAL,
    PROGRESS_WRITE_INTERVAL,
    Progress,
    RenderCancelled,
    SegmentProgress,
    SegmentState,
    _PartEngine,
    check_stop,
    complete,
    create_engine,
    empty_marker,
    output_key,
    part_key,
    render_segment,
    render_task,
    segmented_progress,
    stitch_task,
)
from tests.unit.broker_fakes import broker, brokered_context
from tests.unit.fakes import store, workflows
from tests.unit.log_capture import record_logs

WS = "ws_1"
MEDIA = MediaInfo(duration=4, width=321, height=180, fps=10, has_video=True, has_audio=True, size_bytes=9)
SEGMENTS = [
    Segment(index=0, end_pts=100, frames=30),
    Segment(index=1, start_pts=100, warmup_pts=90, frames=10),
]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(render_module, "time", fake)
    return fake


class Doubler:
    """Output twice the source size; optionally finds nothing at its end."""

    def __init__(self, finish_failure: TaskFailure | None = None) -> None:
        self.finish_failure = finish_failure

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width * 2, height * 2

    def process(self, frame: Frame) -> Frame:
        return frame

    def finish(self) -> None:
        if self.finish_failure:
            raise self.finish_failure


def _registry(engine: FrameEngine | None = None) -> EngineRegistry:
    registry = EngineRegistry()
    registry.register(TaskType.gaze_redirect, lambda options, media: engine or Doubler())
    return registry


@dataclass
class Media:
    """Stands in for media.transcode.render, media.segments.stitch and provenance signing."""

    clock: Clock
    calls: list[tuple[str, Any]] = field(default_factory=list)
    progress: list[tuple[int, int]] = field(default_factory=lambda: [(0, 20), (10, 20), (20, 20)])
    credentials: ContentCredentials | None = None
    stitched_frames: int = 40
    during: Callable[[], None] = lambda: None

    def render(
        self,
        source: str,
        target: str,
        engine: FrameEngine,
        spec: OutputSpec,
        *,
        on_progress: Any,
        check_stop: Any,
        segment: Cut | None = None,
    ) -> RenderStats:
        self.calls.append(("render", (Path(source).read_bytes(), spec.extension, segment)))
        for done, total in self.progress:
            self.clock.now += 1
            check_stop()
            on_progress(done, total)
        self.during()
        engine.finish()
        Path(target).write_bytes(b"RENDERED")
        return RenderStats(frames=20, width=642, height=360, duration=2.00049, seconds=1)

    def stitch(self, parts: list[str], source: str, target: str, spec: OutputSpec) -> int:
        self.calls.append(("stitch", [Path(p).read_bytes() for p in parts]))
        Path(target).write_bytes(b"STITCHED")
        return self.stitched_frames

    def sign(
        self, ctx: ServiceContext, task: Task, source: str, target: str, spec: OutputSpec, engine: FrameEngine
    ) -> ContentCredentials | None:
        self.calls.append(("sign", Path(target).read_bytes()))
        return self.credentials


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> Media:
    fake = Media(clock)
    monkeypatch.setattr(render_module, "render", fake.render)
    monkeypatch.setattr(render_module, "stitch", fake.stitch)
    monkeypatch.setattr(render_module, "sign_output", fake.sign)
    return fake


def _task(ctx: ServiceContext, **fields: Any) -> Task:
    now = utc_now()
    values: dict[str, Any] = {
        "id": "task_1",
        "workspace_id": WS,
        "status": TaskStatus.queued,
        "created_at": now,
        "updated_at": now,
        "task_type": TaskType.gaze_redirect,
        "source_key": "sources/ws_1/task_1",
        "media": MEDIA,
        **fields,
    }
    task = Task(**values)
    store(ctx).tasks[WS, task.id] = task
    ctx.blobs.put_bytes("sources/ws_1/task_1", b"SOURCE")
    return task


def _writes(ctx: ServiceContext) -> list[tuple[TaskStatus, int | None, ProgressStage | None]]:
    """Every transition of task_1 as (status, percent, stage), recorded at the store."""
    seen: list[tuple[TaskStatus, int | None, ProgressStage | None]] = []
    real = store(ctx).transition_task

    def transition_task(to: Task, changed: set[str], *, from_statuses: set[TaskStatus]) -> Task:
        updated = real(to, changed, from_statuses=from_statuses)
        seen.append((updated.status, updated.progress_percent, updated.progress_stage))
        return updated

    store(ctx).transition_task = transition_task  # type: ignore[method-assign]
    return seen


def _stored(ctx: ServiceContext) -> Task:
    return store(ctx).tasks[WS, "task_1"]


# keys and engines


def test_keys_are_deterministic() -> None:
    task = Task(
        id="task_1", workspace_id=WS, status=TaskStatus.queued, created_at=utc_now(), updated_at=utc_now()
    )
    assert output_key(task, "mp4") == "outputs/ws_1/task_1/output.mp4"
    assert part_key(task, 7, "webm") == "segments/ws_1/task_1/part-00007.webm"
    assert empty_marker(task, 12) == "segments/ws_1/task_1/part-00012.empty"


@pytest.mark.parametrize("missing", ["task_type", "source_key", "media"])
def test_an_engine_needs_an_ingested_task(missing: str) -> None:
    ctx = brokered_context()
    task = _task(ctx).model_copy(update={missing: None})
    with pytest.raises(TaskFailure, match="task was not ingested") as raised:
        create_engine(_registry(), task)
    assert raised.value.code is TaskErrorCode.internal_error


def test_a_worker_without_the_engine_fails_the_task_as_internal() -> None:
    ctx = brokered_context()
    with pytest.raises(TaskFailure) as raised:
        create_engine(EngineRegistry(), _task(ctx))
    assert raised.value.code is TaskErrorCode.internal_error
    assert raised.value.message == "no gaze_redirect engine is installed in this worker"


# a whole render


def test_a_render_walks_the_stages_and_records_its_output(media: Media) -> None:
    ctx = brokered_context()
    _task(ctx)
    writes = _writes(ctx)
    media.credentials = ContentCredentials(format="embedded")
    completed = render_task(ctx, _registry(), _stored(ctx), threading.Event())
    assert writes == [
        (TaskStatus.processing, 0, ProgressStage.downloading),
        (TaskStatus.processing, 5, ProgressStage.compositing),
        (TaskStatus.processing, 47, ProgressStage.compositing),  # 5 + 85 × 10 // 20
        (TaskStatus.processing, 90, ProgressStage.encoding),
        (TaskStatus.processing, 95, ProgressStage.uploading),
        (TaskStatus.completed, 100, None),
    ]
    assert media.calls == [("render", (b"SOURCE", "mp4", None)), ("sign", b"RENDERED")]
    assert completed == _stored(ctx) and completed.output_key == "outputs/ws_1/task_1/output.mp4"
    assert completed.output == JobOutput(
        url="s3://fake-bucket/outputs/ws_1/task_1/output.mp4",
        width=642,
        height=360,
        duration=2.0,
        size_bytes=8,
        content_credentials=ContentCredentials(format="embedded"),
    )
    assert ctx.blobs.get_bytes("outputs/ws_1/task_1/output.mp4") == b"RENDERED"


def test_progress_writes_are_throttled_and_skip_repeats(clock: Clock) -> None:
    ctx = brokered_context()
    task = _task(ctx, status=TaskStatus.processing)
    writes = _writes(ctx)
    progress = Progress(ctx, task, threading.Event())
    progress.stage(ProgressStage.compositing, force=True)
    clock.now += PROGRESS_WRITE_INTERVAL - 0.01
    progress.frames(50, 100)  # too soon
    clock.now += 0.01
    progress.frames(1, 100)  # 5 + 85 // 100 = 5: the same percent
    progress.frames(50, 100)
    progress.frames(60, 100)  # too soon again
    progress.frames(100, 100)  # the last frame is always written
    assert [percent for _, percent, _ in writes] == [5, 47, 90]
    assert progress.task.progress_percent == 90 and progress.task.progress_stage is ProgressStage.encoding


def test_a_zero_frame_total_does_not_divide_by_zero(clock: Clock) -> None:
    ctx = brokered_context()
    progress = Progress(ctx, _task(ctx), threading.Event())
    progress.frames(0, 0)
    assert _stored(ctx).progress_percent == 90


def test_a_progress_write_after_a_cancel_stops_the_render(clock: Clock) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.cancelled)
    with pytest.raises(RenderCancelled):
        Progress(ctx, _stored(ctx), threading.Event()).stage(ProgressStage.downloading, force=True)


def test_progress_events_are_best_effort(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = brokered_context()
    _task(ctx)
    logged = record_logs(monkeypatch, render_module)

    def throttle_down(name: str, seconds: float) -> bool:
        raise ConnectionError("redis is down")

    broker(ctx).acquire_throttle = throttle_down  # type: ignore[method-assign]
    Progress(ctx, _stored(ctx), threading.Event()).stage(ProgressStage.downloading, force=True)
    assert _stored(ctx).status is TaskStatus.processing
    assert logged == [("warning", "progress event skipped", {"task_id": "task_1"})]


def test_progress_writes_emit_throttled_task_progress_events(clock: Clock) -> None:
    ctx = brokered_context()
    _task(ctx)
    Progress(ctx, _stored(ctx), threading.Event()).stage(ProgressStage.downloading, force=True)
    assert broker(ctx).throttles == [("progress:task_1", ctx.settings.progress_event_interval)]


def test_a_task_completed_by_a_duplicate_delivery_is_returned_as_it_is() -> None:
    ctx = brokered_context()
    finished = _task(ctx, status=TaskStatus.completed, output_key="k")
    assert complete(ctx, finished, JobOutput(url="u"), "other") == finished


def test_a_cancel_that_won_the_race_is_raised() -> None:
    ctx = brokered_context()
    task = _task(ctx, status=TaskStatus.cancelled)
    with pytest.raises(RenderCancelled):
        complete(ctx, task, JobOutput(url="u"), "k")


def test_the_cancel_flag_is_seen_at_the_next_check(media: Media) -> None:
    ctx = brokered_context()
    _task(ctx)

    def cancel_after_first_frames() -> None:
        broker(ctx).cancelled.add("task_1")

    media.progress = [(0, 20)]
    media.during = cancel_after_first_frames
    render_task(ctx, _registry(), _stored(ctx), threading.Event())  # the flag came after the last check
    ctx = brokered_context()
    _task(ctx)
    broker(ctx).cancelled.add("task_1")
    with pytest.raises(RenderCancelled):
        render_task(ctx, _registry(), _stored(ctx), threading.Event())


def test_shutdown_stops_the_render_at_once(media: Media) -> None:
    ctx = brokered_context()
    _task(ctx)
    stopping = threading.Event()
    stopping.set()
    with pytest.raises(RenderStopped, match="worker is shutting down"):
        render_task(ctx, _registry(), _stored(ctx), stopping)
    assert not ctx.blobs.exists("outputs/ws_1/task_1/output.mp4")


def test_check_stop_asks_the_broker_and_keeps_going_when_it_is_away(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = brokered_context()
    logged = record_logs(monkeypatch, render_module)
    stopping = threading.Event()
    check_stop(ctx, "task_1", stopping)
    broker(ctx).cancelled.add("task_1")
    with pytest.raises(RenderCancelled):
        check_stop(ctx, "task_1", stopping)

    def down(task_id: str) -> bool:
        raise ConnectionError("redis is down")

    broker(ctx).is_cancelled = down  # type: ignore[method-assign]
    check_stop(ctx, "task_1", stopping)
    assert logged == [("warning", "cancel check failed", {"task_id": "task_1"})]
    stopping.set()
    with pytest.raises(RenderStopped):
        check_stop(ctx, "task_1", stopping)


def test_the_cancel_flag_is_read_at_most_every_check_interval(clock: Clock) -> None:
    ctx = brokered_context()
    asked: list[str] = []
    broker(ctx).is_cancelled = lambda task_id: asked.append(task_id) or False  # type: ignore[method-assign,func-returns-value]
    progress = Progress(ctx, _task(ctx), threading.Event())
    progress.check_stop()
    clock.now += CANCEL_CHECK_INTERVAL - 0.01
    progress.check_stop()
    clock.now += 0.01
    progress.check_stop()
    assert asked == ["task_1", "task_1"] and CANCEL_CHECK_INTERVAL == 0.2


# segments


def test_a_segment_renders_its_cut_and_stores_its_part(media: Media) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    render_segment(ctx, _registry(), _stored(ctx), 1, threading.Event())
    assert media.calls == [("render", (b"SOURCE", "mp4", Cut(100, None, 90, 10)))]
    assert ctx.blobs.get_bytes("segments/ws_1/task_1/part-00001.mp4") == b"RENDERED"
    assert not ctx.blobs.exists("segments/ws_1/task_1/part-00001.empty")
    state = SegmentState.load(broker(ctx).segments["task_1"][1])
    assert state.finished and state.done == 20 and state.stage is ProgressStage.uploading


def test_a_segment_that_found_nothing_leaves_a_marker(media: Media) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    nothing = TaskFailure(TaskErrorCode.no_face_detected, "no face in any frame")
    render_segment(ctx, _registry(Doubler(nothing)), _stored(ctx), 0, threading.Event())
    marker = ctx.blobs.get_bytes("segments/ws_1/task_1/part-00000.empty")
    assert marker == b"no_face_detected\nno face in any frame"
    assert ctx.blobs.exists("segments/ws_1/task_1/part-00000.mp4")


def test_other_engine_failures_fail_the_segment(media: Media) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    with pytest.raises(TaskFailure, match="broken"):
        render_segment(
            ctx,
            _registry(Doubler(TaskFailure(TaskErrorCode.internal_error, "broken"))),
            _stored(ctx),
            0,
            threading.Event(),
        )


def test_an_unknown_segment_is_an_internal_error() -> None:
    ctx = brokered_context()
    _task(ctx, segments=SEGMENTS)
    with pytest.raises(TaskFailure, match="task task_1 has no segment 2"):
        render_segment(ctx, _registry(), _stored(ctx), 2, threading.Event())
    _task(ctx)
    with pytest.raises(TaskFailure, match="has no segment 0"):
        render_segment(ctx, _registry(), _stored(ctx), 0, threading.Event())


def _segment_progress(ctx: ServiceContext, index: int = 0) -> SegmentProgress:
    return SegmentProgress(ctx, _stored(ctx), SEGMENTS[index], threading.Event())


def test_a_segment_reports_its_rate_once_measured_for_a_second(clock: Clock) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    progress = _segment_progress(ctx)
    progress.stage(ProgressStage.compositing)
    progress.frames(4, 30)  # the clock starts (this report is throttled)
    clock.now += 0.99
    progress.frames(8, 30)
    state = SegmentState.load(broker(ctx).segments["task_1"][0])
    assert (state.stage, state.done, state.rate) == (ProgressStage.compositing, 8, None)  # under a second
    clock.now += 0.51
    progress.frames(12, 30)
    assert SegmentState.load(broker(ctx).segments["task_1"][0]).rate == pytest.approx(8 / 1.5)
    exact = _segment_progress(ctx)
    exact.frames(0, 30)
    clock.now += 1.0
    exact.frames(10, 30)
    assert SegmentState.load(broker(ctx).segments["task_1"][0]).rate == 10.0
    progress = exact
    clock.now += 1.0
    progress.frames(10, 30)  # the rate is over the whole span since the first frames: 10 in 2 s
    assert SegmentState.load(broker(ctx).segments["task_1"][0]).rate == 5.0
    progress.frames(30, 30)
    state = SegmentState.load(broker(ctx).segments["task_1"][0])
    assert (state.stage, state.done, state.finished) == (ProgressStage.encoding, 30, False)


def test_segment_reports_are_throttled(clock: Clock) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    progress = _segment_progress(ctx)
    progress.stage(ProgressStage.compositing)
    progress.frames(5, 30)
    assert SegmentState.load(broker(ctx).segments["task_1"][0]).done == 0
    clock.now += PROGRESS_WRITE_INTERVAL
    progress.frames(6, 30)
    assert SegmentState.load(broker(ctx).segments["task_1"][0]).done == 6


def test_the_task_progress_aggregates_segments_and_never_goes_back(clock: Clock) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS, progress_percent=50)
    broker(ctx).report_segment(
        "task_1", 1, SegmentState(ProgressStage.uploading, 10, 5.0, finished=True).dump()
    )
    progress = _segment_progress(ctx)
    progress.stage(ProgressStage.compositing)
    assert _stored(ctx).progress_percent == 50  # 5 + 85 × 10 // 40 = 26 is lower than the stored 50
    clock.now += 1
    progress.frames(30, 30)
    task = _stored(ctx)
    assert (task.progress_percent, task.progress_stage) == (90, ProgressStage.encoding)


def test_only_the_throttle_holder_writes_the_task(clock: Clock) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.queued, segments=SEGMENTS)
    broker(ctx).throttle_open = False
    _segment_progress(ctx).stage(ProgressStage.compositing)
    assert _stored(ctx).status is TaskStatus.queued and "task_1" in broker(ctx).segments
    broker(ctx).throttle_open = True
    _segment_progress(ctx).stage(ProgressStage.compositing)
    task = _stored(ctx)
    assert (task.status, task.progress_percent, task.progress_stage) == (
        TaskStatus.processing,
        5,
        ProgressStage.compositing,
    )
    assert task.estimated_seconds_remaining is None


def test_a_cancelled_task_stops_its_segments(clock: Clock) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.cancelled, segments=SEGMENTS)
    with pytest.raises(RenderCancelled):
        _segment_progress(ctx).stage(ProgressStage.compositing)


def test_a_segment_write_that_loses_to_a_cancel_stops_and_to_anything_else_goes_on(clock: Clock) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    real = store(ctx).transition_task
    ending = [TaskStatus.cancelled]

    def ended_first(to: Task, changed: set[str], *, from_statuses: set[TaskStatus]) -> Task:
        store(ctx).tasks[WS, "task_1"] = _stored(ctx).model_copy(update={"status": ending[0]})
        return real(to, changed, from_statuses=from_statuses)

    progress = _segment_progress(ctx)
    store(ctx).transition_task = ended_first  # type: ignore[method-assign]
    with pytest.raises(RenderCancelled):
        progress.stage(ProgressStage.compositing)
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    ending[0] = TaskStatus.failed
    progress = _segment_progress(ctx)
    progress.stage(ProgressStage.compositing)
    assert progress.task.status is TaskStatus.processing  # the task it holds is not replaced by nothing


def test_segment_progress_is_best_effort_when_redis_is_away(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged = record_logs(monkeypatch, render_module)
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.queued, segments=SEGMENTS)

    def down(task_id: str, index: int, state: str) -> None:
        raise ConnectionError("redis is down")

    broker(ctx).report_segment = down  # type: ignore[method-assign]
    _segment_progress(ctx).stage(ProgressStage.compositing)
    assert _stored(ctx).status is TaskStatus.queued
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.queued, segments=SEGMENTS)
    calls = [0]

    def emit_down(name: str, seconds: float) -> bool:
        calls[0] += 1
        if calls[0] > 1:
            raise ConnectionError("redis is down")
        return True

    broker(ctx).acquire_throttle = emit_down  # type: ignore[method-assign]
    _segment_progress(ctx).stage(ProgressStage.compositing)
    assert _stored(ctx).status is TaskStatus.processing
    assert logged == [
        ("warning", "segment progress skipped", {"task_id": "task_1"}),
        ("warning", "progress event skipped", {"task_id": "task_1"}),
    ]


# stitch


def _rendered_parts(ctx: ServiceContext, empty: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    for segment in SEGMENTS:
        ctx.blobs.put_bytes(
            f"segments/ws_1/task_1/part-{segment.index:05d}.mp4", f"PART{segment.index}".encode()
        )
        if segment.index in empty:
            ctx.blobs.put_bytes(
                f"segments/ws_1/task_1/part-{segment.index:05d}.empty", b"no_face_detected\nnone in part"
            )


def test_stitch_joins_the_parts_in_order_and_deletes_them(media: Media) -> None:
    ctx = brokered_context()
    media.clock.now = 0.2  # a fresh monotonic clock: Stitch's first write is forced, not throttled
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    _rendered_parts(ctx, empty={1})
    writes = _writes(ctx)
    completed = stitch_task(ctx, _registry(), _stored(ctx), threading.Event())
    assert media.calls == [("stitch", [b"PART0", b"PART1"]), ("sign", b"STITCHED")]
    assert writes[0] == (TaskStatus.processing, 90, ProgressStage.encoding)
    assert writes[1] == (TaskStatus.processing, 95, ProgressStage.uploading)
    assert completed.output == JobOutput(
        url="s3://fake-bucket/outputs/ws_1/task_1/output.mp4",
        width=642,  # 321 × 2, even
        height=360,
        duration=4.0,  # 40 frames at 10 fps
        size_bytes=8,
    )
    assert set(ctx.blobs.objects) == {"sources/ws_1/task_1", "outputs/ws_1/task_1/output.mp4"}  # type: ignore[attr-defined]


def test_stitch_rounds_to_even_sizes_and_assumes_25_fps(media: Media) -> None:
    ctx = brokered_context()
    odd = MEDIA.model_copy(update={"width": 161, "height": 91, "fps": None})

    class Same(Doubler):
        def output_size(self, width: int, height: int) -> tuple[int, int]:
            return width, height

    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS, media=odd)
    _rendered_parts(ctx)
    media.stitched_frames = 51
    output = stitch_task(ctx, _registry(Same()), _stored(ctx), threading.Event()).output
    assert output is not None and (output.width, output.height, output.duration) == (160, 90, 2.04)


def test_stitch_of_segments_that_all_found_nothing_fails_the_task(media: Media) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    _rendered_parts(ctx, empty={0, 1})
    with pytest.raises(TaskFailure) as raised:
        stitch_task(ctx, _registry(), _stored(ctx), threading.Event())
    assert (raised.value.code, raised.value.message) == (TaskErrorCode.no_face_detected, "none in part")
    assert set(ctx.blobs.objects) == {"sources/ws_1/task_1"} and media.calls == []  # type: ignore[attr-defined]


def test_stitch_stops_on_shutdown_before_joining(media: Media) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    _rendered_parts(ctx)
    stopping = threading.Event()
    stopping.set()
    with pytest.raises(RenderStopped):
        stitch_task(ctx, _registry(), _stored(ctx), stopping)
    assert media.calls == [] and ctx.blobs.exists("segments/ws_1/task_1/part-00000.mp4")


# what render, Stitch and the signer are handed (against mutants the tests above let live)


MOV = {"output_format": "mov"}  # remove_background's ProRes: not the default spec of any task type


class Watch:
    """Records what render/stitch/sign/upload were given (paths, spec, engine) and passes on to the fakes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, media: Media, ctx: ServiceContext) -> None:
        self.media, self.ctx = media, ctx
        self.rendered: list[tuple[str, str, OutputSpec]] = []
        self.stitched: list[tuple[list[str], str, bytes, str, OutputSpec]] = []
        self.signed: list[tuple[ServiceContext, str, bytes, OutputSpec, FrameEngine]] = []
        self.uploads: list[tuple[str, str | None]] = []
        self.duration = 2.34567
        monkeypatch.setattr(render_module, "render", self.render)
        monkeypatch.setattr(render_module, "stitch", self.stitch)
        monkeypatch.setattr(render_module, "sign_output", self.sign)
        upload = ctx.blobs.upload_file

        def upload_file(path: str, key: str, content_type: str | None = None) -> int:
            self.uploads.append((key, content_type))
            return upload(path, key, content_type)

        ctx.blobs.upload_file = upload_file  # type: ignore[method-assign]

    def render(
        self, source: str, target: str, engine: FrameEngine, spec: OutputSpec, **kw: Any
    ) -> RenderStats:
        self.rendered.append((source, target, spec))
        stats = self.media.render(source, target, engine, spec, **kw)
        return dataclasses.replace(stats, duration=self.duration)

    def stitch(self, parts: list[str], source: str, target: str, spec: OutputSpec) -> int:
        self.stitched.append((parts, source, Path(source).read_bytes(), target, spec))
        return self.media.stitch(parts, source, target, spec)

    def sign(
        self, ctx: ServiceContext, task: Task, source: str, target: str, spec: OutputSpec, engine: FrameEngine
    ) -> ContentCredentials | None:
        self.signed.append((ctx, task.id, Path(source).read_bytes(), spec, engine))
        return self.media.sign(ctx, task, source, target, spec, engine)


def _engines(engine: FrameEngine) -> EngineRegistry:
    """remove_background's engine, created only for the task's own media."""
    registry = EngineRegistry()

    def create(options: dict[str, Any], media: MediaInfo) -> FrameEngine:
        assert options == MOV and media == MEDIA
        return engine

    registry.register(TaskType.remove_background, create)
    return registry


def _in_private_workdir(paths: list[str], prefix: str) -> None:
    """Every local file lies in one fresh temporary directory named for its stage, gone after the run."""
    folders = {Path(p).parent for p in paths}
    assert len(folders) == 1 and all(Path(p).is_absolute() for p in paths)
    (folder,) = folders
    assert folder.name.startswith(prefix) and not folder.exists()


def test_a_render_hands_its_own_files_spec_and_engine_on(
    media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = brokered_context()
    _task(ctx, task_type=TaskType.remove_background, options=MOV)
    engine = Doubler()
    watch = Watch(monkeypatch, media, ctx)
    media.credentials = ContentCredentials(format="sidecar")
    completed = render_task(ctx, _engines(engine), _stored(ctx), threading.Event())
    ((source, target, spec),) = watch.rendered
    assert spec is PRORES_4444_MOV and target.endswith("output.mov")
    _in_private_workdir([source, target], "framelane-render-")
    assert watch.signed == [(ctx, "task_1", b"SOURCE", PRORES_4444_MOV, engine)]
    assert watch.uploads == [("outputs/ws_1/task_1/output.mov", "video/quicktime")]
    assert completed.output is not None and completed.output.duration == 2.346  # rounded to the millisecond


def test_compositing_is_written_at_once_even_before_the_first_frames(media: Media) -> None:
    ctx = brokered_context()
    _task(ctx)
    writes = _writes(ctx)
    media.progress = [(10, 20), (20, 20)]
    render_task(ctx, _registry(), _stored(ctx), threading.Event())
    assert [(percent, stage) for _, percent, stage in writes][:3] == [
        (0, ProgressStage.downloading),
        (5, ProgressStage.compositing),
        (47, ProgressStage.compositing),
    ]


def test_a_segment_renders_its_own_cut_in_its_own_files(
    media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = brokered_context()
    _task(
        ctx,
        status=TaskStatus.processing,
        segments=SEGMENTS,
        task_type=TaskType.remove_background,
        options=MOV,
    )
    watch = Watch(monkeypatch, media, ctx)
    reported: list[str | None] = []
    report = broker(ctx).report_segment

    def report_segment(task_id: str, index: int, state: str) -> None:
        reported.append(SegmentState.load(state).stage if '"stage": null' not in state else None)
        report(task_id, index, state)

    broker(ctx).report_segment = report_segment  # type: ignore[method-assign]
    render_segment(ctx, _engines(Doubler()), _stored(ctx), 0, threading.Event())
    ((source, target, spec),) = watch.rendered
    assert spec is PRORES_4444_MOV and media.calls[0][1][2] == Cut(None, 100, None, 30)
    _in_private_workdir([source, target], "framelane-segment-")
    assert watch.uploads == [("segments/ws_1/task_1/part-00000.mov", None)]
    assert reported[:2] == [ProgressStage.downloading, ProgressStage.compositing]


def _parts(ctx: ServiceContext, markers: dict[int, bytes]) -> None:
    for segment in SEGMENTS:
        ctx.blobs.put_bytes(
            f"segments/ws_1/task_1/part-{segment.index:05d}.mov", f"PART{segment.index}".encode()
        )
        if segment.index in markers:
            ctx.blobs.put_bytes(
                f"segments/ws_1/task_1/part-{segment.index:05d}.empty", markers[segment.index]
            )


def test_stitch_hands_its_own_files_spec_and_engine_on(media: Media, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = brokered_context()
    _task(
        ctx,
        status=TaskStatus.processing,
        segments=SEGMENTS,
        task_type=TaskType.remove_background,
        options=MOV,
        media=MEDIA.model_copy(update={"fps": 30}),
    )
    _parts(ctx, {})
    engine = Doubler()
    watch = Watch(monkeypatch, media, ctx)
    media.credentials = ContentCredentials(format="sidecar")
    media.stitched_frames = 37
    registry = EngineRegistry()
    registry.register(TaskType.remove_background, lambda options, media: engine)
    completed = stitch_task(ctx, registry, _stored(ctx), threading.Event())
    ((parts, source, source_bytes, target, spec),) = watch.stitched
    assert source_bytes == b"SOURCE" and spec is PRORES_4444_MOV
    _in_private_workdir([*parts, source, target], "framelane-stitch-")
    assert watch.signed == [(ctx, "task_1", b"SOURCE", PRORES_4444_MOV, engine)]
    assert watch.uploads == [("outputs/ws_1/task_1/output.mov", "video/quicktime")]
    assert completed.output_key == "outputs/ws_1/task_1/output.mov"
    assert completed.output is not None
    assert completed.output.content_credentials == ContentCredentials(format="sidecar")
    assert (completed.output.width, completed.output.height) == (642, 360)  # ProRes keeps odd sizes
    assert completed.output.duration == 1.233  # 37 frames at 30 fps, to the millisecond


def test_stitch_fails_with_the_first_segments_marker_whole(media: Media) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    for segment, marker in ((0, b"no_face_detected\nno face\nin part 0"), (1, b"internal_error\npart 1")):
        ctx.blobs.put_bytes(f"segments/ws_1/task_1/part-{segment:05d}.empty", marker)
    with pytest.raises(TaskFailure) as raised:
        stitch_task(ctx, _registry(), _stored(ctx), threading.Event())
    assert (raised.value.code, raised.value.message) == (TaskErrorCode.no_face_detected, "no face\nin part 0")


def test_stop_and_failure_texts_are_exact(clock: Any) -> None:
    ctx = brokered_context()
    stopping = threading.Event()
    stopping.set()
    with pytest.raises(RenderStopped) as stopped:
        check_stop(ctx, "task_1", stopping)
    assert str(stopped.value) == "worker is shutting down"
    with pytest.raises(RenderStopped) as stopped:
        Progress(ctx, _task(ctx), stopping).check_stop()
    assert str(stopped.value) == "worker is shutting down"
    with pytest.raises(TaskFailure) as failed:
        create_engine(_registry(), _stored(ctx).model_copy(update={"media": None}))
    assert failed.value.message == "task was not ingested"
    with pytest.raises(TaskFailure) as failed:
        render_segment(ctx, _registry(), _stored(ctx), 0, threading.Event())
    assert failed.value.code is TaskErrorCode.internal_error


def test_a_progress_write_records_the_time_left_and_tells_the_tasks_webhook(clock: Clock) -> None:
    ctx = brokered_context()
    _task(ctx, webhook_url="https://hooks.example/t")
    progress = Progress(ctx, _stored(ctx), threading.Event())
    progress._eta = Eta(clock.monotonic)
    progress.stage(ProgressStage.compositing, force=True)
    assert _stored(ctx).estimated_seconds_remaining is None  # nothing measured yet
    progress.frames(0, 20)
    clock.now += 2
    progress.frames(10, 20)
    assert _stored(ctx).estimated_seconds_remaining == 2  # 10 frames left at 5 per second
    assert len(workflows(ctx).deliveries) == 2  # a task.progress per write (the fake's throttle is open)


def test_the_first_unforced_write_or_check_is_never_throttled(clock: Clock) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    asked: list[str] = []
    broker(ctx).is_cancelled = lambda task_id: asked.append(task_id) or False  # type: ignore[method-assign,func-returns-value]
    clock.now = CANCEL_CHECK_INTERVAL  # a monotonic clock may start near zero
    Progress(ctx, _stored(ctx), threading.Event()).check_stop()
    assert asked == ["task_1"]
    clock.now = PROGRESS_WRITE_INTERVAL
    Progress(ctx, _stored(ctx), threading.Event()).frames(10, 20)
    assert _stored(ctx).progress_percent == 47
    _segment_progress(ctx).frames(3, 30)
    assert SegmentState.load(broker(ctx).segments["task_1"][0]).done == 3


def test_segment_stages_are_reported_at_once_and_the_task_written_under_its_throttle(clock: Clock) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS, webhook_url="https://hooks.example/t")
    progress = _segment_progress(ctx)
    progress.stage(ProgressStage.downloading)
    progress.stage(ProgressStage.compositing)  # same instant: a stage change is never throttled
    assert SegmentState.load(broker(ctx).segments["task_1"][0]).stage is ProgressStage.compositing
    assert broker(ctx).throttles[0] == ("progress:task_1", PROGRESS_WRITE_INTERVAL)
    assert len(workflows(ctx).deliveries) == 2  # a task.progress per write (the fake's throttle is open)
    clock.now += 1
    progress.frames(5, 30)
    clock.now += 1
    progress.frames(5, 30)  # no new frames in a second: no rate yet, not a rate of zero
    assert SegmentState.load(broker(ctx).segments["task_1"][0]).rate is None
    broker(ctx).cancelled.add("task_1")
    with pytest.raises(RenderCancelled):
        progress.check_stop()


def test_segmented_progress_counts_every_segments_frames() -> None:
    first, second = SEGMENTS  # 30 and 10 frames
    compositing = SegmentState(ProgressStage.compositing, 10, 5.0)
    # 20 frames left of the first (at 5/s), 10 of the second not started: 30 frames, 6 s, in either order
    assert segmented_progress([first, second], {0: compositing}) == (26, ProgressStage.compositing, 6)
    assert segmented_progress([second, first], {0: compositing}) == (26, ProgressStage.compositing, 6)
    # a segment past compositing counts whole even before it says finished
    for stage in (ProgressStage.encoding, ProgressStage.uploading):
        state = SegmentState(stage, 0, None)
        assert segmented_progress([first, second], {0: state, 1: compositing}) == (
            90,
            ProgressStage.compositing,
            0,
        )
    # the stage is the earliest in the pipeline's order, not in the alphabet
    downloading = SegmentState(ProgressStage.downloading, 0, None)
    assert (
        segmented_progress([first, second], {0: downloading, 1: compositing})[1] is ProgressStage.downloading
    )


def test_a_segments_engine_is_the_tasks_engine_but_for_whole_video_failures() -> None:
    frame = object()
    engine = _PartEngine(Doubler())
    assert engine.output_size(321, 180) == (642, 360)
    assert engine.process(frame) is frame  # type: ignore[arg-type]


def test_segments_with_a_measured_rate_record_the_tasks_time_left(clock: Clock) -> None:
    ctx = brokered_context()
    _task(ctx, status=TaskStatus.processing, segments=SEGMENTS)
    progress = _segment_progress(ctx)
    progress.stage(ProgressStage.compositing)
    progress.frames(0, 30)
    clock.now += 1
    progress.frames(10, 30)  # 10 frames a second; 20 left here and 10 in the segment not started
    assert _stored(ctx).estimated_seconds_remaining == 3
