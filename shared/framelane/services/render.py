"""Render one task: download its source, run the engine over every frame, sign and store the output, and keep
the job's progress, stage and time-left estimate current while doing so.

The worker (worker/runtime.py) only consumes the broker and answers Step Functions tokens; this service is
what it calls for each message. Cancellation and shutdown surface as exceptions (`RenderCancelled`,
`media.pipeline.RenderStopped`) so the worker can answer the token accordingly.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time

from aws_lambda_powertools import Logger

from framelane.engines.base import EngineRegistry, EngineUnavailable, FrameEngine
from framelane.errors import JobFailure
from framelane.media.formats import output_spec
from framelane.media.pipeline import RenderStopped, render
from framelane.models import Job, JobOutput, JobStatus, ProgressStage
from framelane.provenance.outputs import sign_output
from framelane.services.context import ServiceContext
from framelane.services.eta import Eta
from framelane.services.jobs import load_job, transition
from framelane.services.notify import emit_progress

logger = Logger(service="framelane-render")

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


def output_key(job: Job, extension: str) -> str:
    """Deterministic: a duplicate delivery overwrites the same object instead of making a second output."""
    return f"outputs/{job.workspace_id}/{job.id}/output.{extension}"


def create_engine(engines: EngineRegistry, job: Job) -> FrameEngine:
    if job.task_type is None or job.source_key is None or job.media is None:
        raise JobFailure("internal_error", "task was not ingested")
    try:
        return engines.create(job.task_type, job.options, job.media)
    except EngineUnavailable as exc:
        raise JobFailure("internal_error", str(exc)) from exc


def render_task(ctx: ServiceContext, engines: EngineRegistry, job: Job, stopping: threading.Event) -> Job:
    """The whole task in one go: the completed job (or the one a duplicate delivery completed first)."""
    engine = create_engine(engines, job)
    assert job.task_type is not None and job.source_key is not None  # checked by create_engine
    spec = output_spec(job.task_type, job.options)
    progress = Progress(ctx, job, stopping)
    progress.stage(ProgressStage.downloading, force=True)
    with tempfile.TemporaryDirectory(prefix="framelane-render-") as workdir:
        source = os.path.join(workdir, "source")
        target = os.path.join(workdir, f"output.{spec.extension}")
        ctx.blobs.download_file(job.source_key, source)
        progress.stage(ProgressStage.compositing, force=True)
        stats = render(
            source, target, engine, spec, on_progress=progress.frames, should_stop=progress.should_stop
        )
        credentials = sign_output(ctx, job, source, target, spec, engine)
        progress.stage(ProgressStage.uploading, force=True)
        key = output_key(job, spec.extension)
        size = ctx.blobs.upload_file(target, key, spec.content_type)
    output = JobOutput(
        url=f"s3://{ctx.blobs.bucket}/{key}",
        width=stats.width,
        height=stats.height,
        duration=round(stats.duration, 3),
        size_bytes=size,
        content_credentials=credentials,
    )
    return complete(ctx, progress.job, output, key)


def complete(ctx: ServiceContext, job: Job, output: JobOutput, key: str) -> Job:
    """processing → completed with the output; a cancel that won the race raises RenderCancelled."""
    completed = transition(
        ctx,
        job,
        frozenset({JobStatus.processing}),
        status=JobStatus.completed,
        progress_percent=100,
        output=output,
        output_key=key,
    )
    if completed is None:
        latest = load_job(ctx, job.workspace_id, job.id)
        if latest.status is JobStatus.cancelled:
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


class Progress:
    """Writes progress_percent/stage at most every 0.5 s, checks cancellation, emits task.progress events."""

    def __init__(self, ctx: ServiceContext, job: Job, stopping: threading.Event) -> None:
        self.ctx = ctx
        self.job = job
        self.stopping = stopping
        self._last_write = 0.0
        self._last_cancel_check = 0.0
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

    def should_stop(self) -> bool:
        """Raises instead of returning True (see `check_stop`); checks the cancel flag at most every 0.2 s."""
        if self.stopping.is_set():
            raise RenderStopped("worker is shutting down")
        now = time.monotonic()
        if now - self._last_cancel_check >= CANCEL_CHECK_INTERVAL:
            self._last_cancel_check = now
            check_stop(self.ctx, self.job.id, self.stopping)
        return False

    def _write(self, percent: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (now - self._last_write < PROGRESS_WRITE_INTERVAL or percent == self._percent):
            return
        self._last_write, self._percent = now, percent
        updated = transition(
            self.ctx,
            self.job,
            frozenset({JobStatus.queued, JobStatus.processing}),
            status=JobStatus.processing,
            progress_percent=percent,
            progress_stage=self._stage,
            estimated_seconds_remaining=self._seconds_left,
        )
        if updated is None:
            raise RenderCancelled()
        self.job = updated
        try:
            emit_progress(self.ctx, self.job.workspace_id, self.job.id)
        except Exception:  # progress events are best effort: a Redis blip must not fail the render
            logger.warning("progress event skipped", exc_info=True, extra={"task_id": self.job.id})
