"""Render one task: download its source, run the engine over every frame, sign and store the output, and keep
the task's progress, stage and time-left estimate current while doing so.

The worker (worker/runtime.py) only consumes the broker and answers Step Functions tokens; this service is
what it calls for each message. Cancellation and shutdown surface as exceptions (`RenderCancelled`,
`media.transcode.RenderStopped`) so the worker can answer the token accordingly.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from framelane.engines.base import EngineRegistry, EngineUnavailable, Frame, FrameEngine
from framelane.errors import TaskFailure
from framelane.logs import SERVICE
from framelane.media.formats import output_spec
from framelane.media.segments import Cut, stitch
from framelane.media.transcode import RenderStopped, render
from framelane.models import JobOutput, ProgressStage, Segment, Task, TaskErrorCode, TaskStatus, TaskType
from framelane.provenance.outputs import sign_output
from framelane.services.context import ServiceContext
from framelane.services.eta import Eta
from framelane.services.notify import emit_progress
from framelane.services.task_state import load_task, transition

logger = Logger(service=SERVICE, child=True)

# failures an engine raises at its end about the whole video ("no face in any frame"): a segment that finds
# nothing is not a failure by itself, the task fails only when every segment found nothing
WHOLE_VIDEO_FAILURES = frozenset({TaskErrorCode.no_face_detected})
PROGRESS_WRITE_INTERVAL = 0.5
CANCEL_CHECK_INTERVAL = 0.2
_STAGE_SPAN = {  # where each stage sits in progress_percent
    ProgressStage.downloading: (0, 5),
    ProgressStage.compositing: (5, 90),
    ProgressStage.encoding: (90, 95),
    ProgressStage.uploading: (95, 99),
}


class RenderCancelled(Exception):
    """The task was cancelled while it rendered."""


def output_key(task: Task, extension: str) -> str:
    """Deterministic: a duplicate delivery overwrites the same object instead of making a second output."""
    return f"outputs/{task.workspace_id}/{task.id}/output.{extension}"


def part_key(task: Task, index: int, extension: str) -> str:
    """Where a rendered segment waits for Stitch (deterministic, like output_key; expires by lifecycle)."""
    return f"segments/{task.workspace_id}/{task.id}/part-{index:05d}.{extension}"


def empty_marker(task: Task, index: int) -> str:
    """Left next to a part whose engine found nothing to work on (see WHOLE_VIDEO_FAILURES)."""
    return f"segments/{task.workspace_id}/{task.id}/part-{index:05d}.empty"


class _PartEngine:
    """The engine of one segment: a whole-video failure at its end is kept for Stitch instead of raised."""

    def __init__(self, inner: FrameEngine) -> None:
        self.inner = inner
        self.found_nothing: TaskFailure | None = None

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return self.inner.output_size(width, height)

    def process(self, frame: Frame) -> Frame:
        return self.inner.process(frame)

    def finish(self) -> None:
        try:
            self.inner.finish()
        except TaskFailure as failure:
            if failure.code not in WHOLE_VIDEO_FAILURES:
                raise
            self.found_nothing = failure


def _ingested_type(task: Task) -> TaskType:
    """The task's type, once ingest has recorded its source and media (a render needs all three)."""
    if task.task_type is None or task.source_key is None or task.media is None:
        raise TaskFailure(TaskErrorCode.internal_error, "task was not ingested")
    return task.task_type


def create_engine(engines: EngineRegistry, task: Task) -> FrameEngine:
    task_type = _ingested_type(task)
    assert task.media is not None  # checked by _ingested_type
    try:
        return engines.create(task_type, task.options, task.media)
    except EngineUnavailable as exc:
        raise TaskFailure(TaskErrorCode.internal_error, str(exc)) from exc


def render_task(ctx: ServiceContext, engines: EngineRegistry, task: Task, stopping: threading.Event) -> Task:
    """The whole task in one go: the completed task (or the one a duplicate delivery completed first)."""
    engine = create_engine(engines, task)
    assert task.task_type is not None and task.source_key is not None  # checked by create_engine
    spec = output_spec(task.task_type, task.options)
    progress = Progress(ctx, task, stopping)
    progress.stage(ProgressStage.downloading, force=True)
    with tempfile.TemporaryDirectory(prefix="framelane-render-") as workdir:
        source = os.path.join(workdir, "source")
        target = os.path.join(workdir, f"output.{spec.extension}")
        ctx.blobs.download_file(task.source_key, source)
        progress.stage(ProgressStage.compositing, force=True)
        stats = render(
            source, target, engine, spec, on_progress=progress.frames, check_stop=progress.check_stop
        )
        credentials = sign_output(ctx, task, source, target, spec, engine)
        progress.stage(ProgressStage.uploading, force=True)
        key = output_key(task, spec.extension)
        size = ctx.blobs.upload_file(target, key, spec.content_type)
    output = JobOutput(
        url=f"s3://{ctx.blobs.bucket}/{key}",
        width=stats.width,
        height=stats.height,
        duration=round(stats.duration, 3),
        size_bytes=size,
        content_credentials=credentials,
    )
    return complete(ctx, progress.task, output, key)


def render_segment(
    ctx: ServiceContext, engines: EngineRegistry, task: Task, index: int, stopping: threading.Event
) -> None:
    """Render one segment of a long task (video only) and store it for Stitch; a segment whose part is already
    stored is not rendered again.

    A worker can store the part and answer the step, then die before it ACKs the entry (or the keeper adds a
    lost entry again): the entry comes back while the Map has moved on. The part is final (deterministic key,
    stored only once complete), so that delivery only answers the token."""
    segment = _segment(task, index)
    progress = SegmentProgress(ctx, task, segment, stopping)
    spec = output_spec(_ingested_type(task), task.options)
    part = part_key(task, index, spec.extension)
    if ctx.blobs.exists(part):
        logger.info("segment already rendered", extra={"task_id": task.id, "segment": index})
        progress.finished()
        return
    engine = _PartEngine(create_engine(engines, task))
    assert task.source_key is not None  # checked by create_engine
    progress.stage(ProgressStage.downloading)
    with tempfile.TemporaryDirectory(prefix="framelane-segment-") as workdir:
        source = os.path.join(workdir, "source")
        target = os.path.join(workdir, f"part.{spec.extension}")
        ctx.blobs.download_file(task.source_key, source)
        progress.stage(ProgressStage.compositing)
        cut = Cut(segment.start_pts, segment.end_pts, segment.warmup_pts, segment.frames)
        render(
            source,
            target,
            engine,
            spec,
            on_progress=progress.frames,
            check_stop=progress.check_stop,
            segment=cut,
        )
        progress.stage(ProgressStage.uploading)
        if engine.found_nothing is not None:
            found_nothing = engine.found_nothing
            ctx.blobs.put_bytes(
                empty_marker(task, index), f"{found_nothing.code}\n{found_nothing.message}".encode()
            )
        ctx.blobs.upload_file(target, part)
    logger.info("segment rendered", extra={"task_id": task.id, "segment": index})  # the soak counts these
    progress.finished()


def stitch_task(ctx: ServiceContext, engines: EngineRegistry, task: Task, stopping: threading.Event) -> Task:
    """Join the task's rendered segments with the source's audio, sign and store the output, delete the parts."""
    segments = task.segments or []
    engine = create_engine(engines, task)  # only its facts, for the Content Credentials
    assert task.task_type is not None and task.source_key is not None and task.media is not None
    spec = output_spec(task.task_type, task.options)
    progress = Progress(ctx, task, stopping)
    progress.stage(ProgressStage.encoding, force=True)
    parts = [part_key(task, s.index, spec.extension) for s in segments]
    markers = [empty_marker(task, s.index) for s in segments]
    if all(ctx.blobs.exists(marker) for marker in markers):
        code, _, message = ctx.blobs.get_bytes(markers[0]).decode().partition("\n")
        ctx.blobs.delete(parts + markers)
        raise TaskFailure(TaskErrorCode(code), message)
    with tempfile.TemporaryDirectory(prefix="framelane-stitch-") as workdir:
        source = os.path.join(workdir, "source")
        target = os.path.join(workdir, f"output.{spec.extension}")
        ctx.blobs.download_file(task.source_key, source)
        local_parts = []
        for number, key in enumerate(parts):
            local = os.path.join(workdir, f"part-{number:05d}.{spec.extension}")
            ctx.blobs.download_file(key, local)
            local_parts.append(local)
        progress.check_stop()
        frames = stitch(local_parts, source, target, spec)
        credentials = sign_output(ctx, task, source, target, spec, engine)
        progress.stage(ProgressStage.uploading, force=True)
        key = output_key(task, spec.extension)
        size = ctx.blobs.upload_file(target, key, spec.content_type)
    width, height = spec.frame_size(*engine.output_size(task.media.width or 0, task.media.height or 0))
    fps = task.media.fps or 25
    output = JobOutput(
        url=f"s3://{ctx.blobs.bucket}/{key}",
        width=width,
        height=height,
        duration=round(frames / fps, 3),
        size_bytes=size,
        content_credentials=credentials,
    )
    completed = complete(ctx, progress.task, output, key)
    ctx.blobs.delete(parts + markers)
    return completed


def _segment(task: Task, index: int) -> Segment:
    for segment in task.segments or []:
        if segment.index == index:
            return segment
    raise TaskFailure(TaskErrorCode.internal_error, f"task {task.id} has no segment {index}")


def complete(ctx: ServiceContext, task: Task, output: JobOutput, key: str) -> Task:
    """processing → completed with the output; a cancel that won the race raises RenderCancelled."""
    completed = transition(
        ctx,
        task,
        frozenset({TaskStatus.processing}),
        status=TaskStatus.completed,
        progress_percent=100,
        output=output,
        output_key=key,
    )
    if completed is None:
        latest = load_task(ctx, task.workspace_id, task.id)
        if latest.status is TaskStatus.cancelled:
            raise RenderCancelled()
        return latest  # a duplicate delivery finished first: same key, one output
    return completed


def check_stop(ctx: ServiceContext, task_id: str, stopping: threading.Event) -> None:
    """Raise RenderStopped on shutdown, RenderCancelled once the task's cancel flag is set."""
    if stopping.is_set():
        raise RenderStopped("worker is shutting down")
    assert ctx.broker is not None
    try:
        cancelled = ctx.broker.is_cancelled(task_id)
    except Exception:  # Redis away (restart, failover): keep rendering, ask again at the next check
        logger.warning("cancel check failed", exc_info=True, extra={"task_id": task_id})
        return
    if cancelled:
        raise RenderCancelled()


class _StopCheck:
    """`check_stop` for the render loop: shutdown at once, the cancel flag at most every 0.2 s."""

    def __init__(self, ctx: ServiceContext, task_id: str, stopping: threading.Event) -> None:
        self.ctx, self.task_id, self.stopping = ctx, task_id, stopping
        self._last = 0.0

    def __call__(self) -> None:
        """Raise RenderStopped or RenderCancelled (see `check_stop`); return to go on rendering."""
        if self.stopping.is_set():
            raise RenderStopped("worker is shutting down")
        now = time.monotonic()
        if now - self._last >= CANCEL_CHECK_INTERVAL:
            self._last = now
            check_stop(self.ctx, self.task_id, self.stopping)


class Progress:
    """Writes progress_percent/stage at most every 0.5 s, checks cancellation, emits task.progress events."""

    def __init__(self, ctx: ServiceContext, task: Task, stopping: threading.Event) -> None:
        self.ctx = ctx
        self.task = task
        self.check_stop = _StopCheck(ctx, task.id, stopping)
        self._last_write = 0.0
        self._stage = ProgressStage.downloading
        self._percent = 0
        self._eta = Eta()
        self._seconds_left: int | None = None

    def stage(self, stage: ProgressStage, *, force: bool = False) -> None:
        self._stage = stage
        self._write(_STAGE_SPAN[stage][0], force=force)

    def frames(self, done: int, total: int) -> None:
        low, high = _STAGE_SPAN[ProgressStage.compositing]
        self._seconds_left = self._eta.update(done, total)
        if done >= total:
            self._stage = ProgressStage.encoding
            self._write(_STAGE_SPAN[ProgressStage.encoding][0], force=True)
            return
        self._write(low + (high - low) * done // max(total, 1))

    def _write(self, percent: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (now - self._last_write < PROGRESS_WRITE_INTERVAL or percent == self._percent):
            return
        self._last_write, self._percent = now, percent
        updated = transition(
            self.ctx,
            self.task,
            frozenset({TaskStatus.queued, TaskStatus.processing}),
            status=TaskStatus.processing,
            progress_percent=percent,
            progress_stage=self._stage,
            estimated_seconds_remaining=self._seconds_left,
        )
        if updated is None:
            raise RenderCancelled()
        self.task = updated
        try:
            emit_progress(self.ctx, self.task.workspace_id, self.task.id)
        except Exception:  # progress events are best effort: a Redis blip must not fail the render
            logger.warning("progress event skipped", exc_info=True, extra={"task_id": self.task.id})


_STAGE_ORDER = list(ProgressStage)
_SEGMENTS_SPAN = (5, 90)  # the segments fill this part of progress_percent; Stitch takes the rest


@dataclass(frozen=True)
class SegmentState:
    """What one segment's worker reports (broker hash, one field per segment)."""

    stage: ProgressStage
    done: int
    rate: float | None  # frames per second measured on this segment, None until measured
    finished: bool = False

    def dump(self) -> str:
        return json.dumps(
            {"stage": self.stage, "done": self.done, "rate": self.rate, "finished": self.finished}
        )

    @classmethod
    def load(cls, raw: str) -> SegmentState:
        data = json.loads(raw)
        return cls(ProgressStage(data["stage"]), int(data["done"]), data["rate"], bool(data["finished"]))


def segmented_progress(
    segments: list[Segment], states: dict[int, SegmentState]
) -> tuple[int, ProgressStage, int | None]:
    """(percent, stage, seconds left) of a segmented task from its segments' reports.

    Percent: the frame-weighted share of the segments' frames rendered. Stage: the slowest unfinished
    segment's (of those started). Seconds left: frames still to render over the measured rates of the
    segments rendering now (together they are the task's current throughput)."""
    total = sum(s.frames for s in segments) or 1
    done = 0
    remaining = 0
    rates: list[float] = []
    stages: list[ProgressStage] = []
    for segment in segments:
        state = states.get(segment.index)
        if state is None:
            remaining += segment.frames
            continue
        kept = (
            segment.frames if state.finished or state.stage.value in ("encoding", "uploading") else state.done
        )
        kept = min(kept, segment.frames)
        done += kept
        remaining += segment.frames - kept
        if not state.finished:
            stages.append(state.stage)
            if state.rate and state.stage is ProgressStage.compositing:
                rates.append(state.rate)
    low, high = _SEGMENTS_SPAN
    percent = low + (high - low) * done // total
    stage = min(stages, key=_STAGE_ORDER.index) if stages else ProgressStage.compositing
    seconds = math.ceil(remaining / sum(rates)) if rates else None
    return percent, stage, seconds


class SegmentProgress:
    """A segment's worker: reports its own state to the broker, and (one worker at a time, every 0.5 s)
    writes the task's aggregate progress, never lower than the stored one."""

    def __init__(self, ctx: ServiceContext, task: Task, segment: Segment, stopping: threading.Event) -> None:
        assert ctx.broker is not None
        self.ctx, self.broker, self.task, self.segment = ctx, ctx.broker, task, segment
        self.check_stop = _StopCheck(ctx, task.id, stopping)
        self._stage = ProgressStage.downloading
        self._done = 0
        self._started: tuple[float, int] | None = None
        self._rate: float | None = None
        self._last_report = 0.0

    def stage(self, stage: ProgressStage) -> None:
        self._stage = stage
        self._report(force=True)

    def frames(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._started is None:
            self._started = (now, done)
        elif now - self._started[0] >= 1.0 and done > self._started[1]:
            self._rate = (done - self._started[1]) / (now - self._started[0])
        self._done = done
        if done >= total:
            self._stage = ProgressStage.encoding
            self._report(force=True)
            return
        self._report()

    def finished(self) -> None:
        self._report(force=True, finished=True)

    def _report(self, *, force: bool = False, finished: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_report < PROGRESS_WRITE_INTERVAL:
            return
        self._last_report = now
        state = SegmentState(self._stage, self._done, self._rate, finished)
        try:
            self.broker.report_segment(self.task.id, self.segment.index, state.dump())
            if not self.broker.acquire_throttle(f"progress:{self.task.id}", PROGRESS_WRITE_INTERVAL):
                return  # a sibling segment writes the task's progress in this window
            states = {
                i: SegmentState.load(raw) for i, raw in self.broker.segment_states(self.task.id).items()
            }
        except Exception:  # Redis away: progress is best effort, the render goes on
            logger.warning("segment progress skipped", exc_info=True, extra={"task_id": self.task.id})
            return
        self._write(states)

    def _write(self, states: dict[int, SegmentState]) -> None:
        latest = load_task(self.ctx, self.task.workspace_id, self.task.id)
        if latest.status is TaskStatus.cancelled:
            raise RenderCancelled()
        percent, stage, seconds = segmented_progress(latest.segments or [], states)
        percent = max(percent, latest.progress_percent)  # never backwards (a retried segment starts over)
        updated = transition(
            self.ctx,
            latest,
            frozenset({TaskStatus.queued, TaskStatus.processing}),
            status=TaskStatus.processing,
            progress_percent=percent,
            progress_stage=stage,
            estimated_seconds_remaining=seconds,
        )
        if updated is None:
            if load_task(self.ctx, self.task.workspace_id, self.task.id).status is TaskStatus.cancelled:
                raise RenderCancelled()
            return
        self.task = updated
        try:
            emit_progress(self.ctx, updated.workspace_id, updated.id)
        except Exception:  # progress events are best effort
            logger.warning("progress event skipped", exc_info=True, extra={"task_id": updated.id})
