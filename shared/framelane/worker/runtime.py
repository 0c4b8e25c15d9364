"""The renderer worker: consume the Redis streams, render each task, store the output, resume the execution.

At-least-once: an entry is ACKed only after the output is in S3 and the job row says completed. A worker
that dies leaves its entry pending; another reclaims it after the visibility timeout (only that counts as a
delivery: a worker shutting down hands its entry back). While rendering, a heartbeat thread keeps the Step
Functions step (SendTaskHeartbeat), the stream entry (XCLAIM) and the task's lease alive; while the entry waits,
the render queue keeper (services/render_queue.py) heartbeats the step instead.
"""

from __future__ import annotations

import json
import os
import random
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from framelane.adapters.redis_streams import Delivery, RedisBroker
from framelane.engines.base import EngineRegistry, EngineUnavailable
from framelane.errors import JobFailure
from framelane.media.formats import output_spec
from framelane.media.pipeline import RenderStopped, render
from framelane.models import Job, JobOutput, JobStatus, ProgressStage, RenderMessage, StepOutcome, TaskType
from framelane.provenance.outputs import check_signing_setup, sign_output
from framelane.services.context import ServiceContext
from framelane.services.jobs import load_job, transition
from framelane.services.notify import emit_progress
from framelane.services.render_queue import render_answered
from framelane.services.transcription import transcribe_offline_job
from framelane.worker.eta import Eta

logger = Logger(service="framelane-worker")

PROGRESS_WRITE_INTERVAL = 0.5
CANCEL_CHECK_INTERVAL = 0.2
_STAGE_SPAN = {  # where each stage sits in progress_percent
    ProgressStage.downloading: (0, 5),
    ProgressStage.compositing: (5, 90),
    ProgressStage.encoding: (90, 95),
    ProgressStage.uploading: (95, 99),
}


def output_key(job: Job, extension: str) -> str:
    """Deterministic: a duplicate delivery overwrites the same object instead of making a second output."""
    return f"outputs/{job.workspace_id}/{job.id}/output.{extension}"


# the renders, and the offline transcriptions that deployments without an AssemblyAI key send to the broker
BROKER_TASK_TYPES = list(TaskType)


@dataclass
class WorkerConfig:
    consumer: str
    task_types: list[TaskType] = field(default_factory=lambda: list(BROKER_TASK_TYPES))
    block_ms: int = 1000
    visibility_timeout: float = 60
    max_attempts: int = 3
    heartbeat_interval: float = 10
    max_restart_pause: float = 30


class _Cancelled(Exception):
    pass


class RendererWorker:
    def __init__(self, ctx: ServiceContext, engines: EngineRegistry, config: WorkerConfig) -> None:
        if ctx.broker is None:
            raise ValueError("the worker needs FRAMELANE_REDIS_URL")
        self.ctx = ctx
        self.broker: RedisBroker = ctx.broker
        self.engines = engines
        self.config = config
        self.stopping = threading.Event()
        self._last_reclaim = 0.0

    @classmethod
    def default_consumer(cls) -> str:
        return f"{socket.gethostname()}-{os.getpid()}"

    def run(self) -> None:
        """Until `stopping` is set (SIGTERM): the current task finishes or is released, then the loop ends.

        The loop never dies: an error (Redis restarting, a failover) is logged and the loop starts again after
        a jittered, growing pause; the broker recreates lost consumer groups itself."""
        logger.info(
            "worker started", extra={"consumer": self.config.consumer, "task_types": self.config.task_types}
        )
        failures = 0
        while not self.stopping.is_set():
            try:
                for task_type in self.config.task_types:
                    self.broker.ensure_group(task_type)
                delivery = self.next_delivery()
                if delivery is not None:
                    self.process(delivery)
                failures = 0
            except Exception:
                failures += 1
                pause = min(self.config.max_restart_pause, 0.25 * 2 ** min(failures, 8))
                pause *= random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not crypto)
                logger.exception("worker loop failed; restarting", extra={"pause": round(pause, 2)})
                self.stopping.wait(pause)
        logger.info("worker stopped", extra={"consumer": self.config.consumer})

    def next_delivery(self) -> Delivery | None:
        """The next entry to work on: an abandoned one (checked every quarter visibility timeout), else a new one."""
        now = time.monotonic()
        if now - self._last_reclaim >= self.config.visibility_timeout / 4:
            self._last_reclaim = now
            for task_type in self.config.task_types:
                reclaimed = self.broker.reclaim(
                    self.config.consumer, task_type, int(self.config.visibility_timeout * 1000)
                )
                if reclaimed is not None:
                    logger.info(
                        "reclaimed an abandoned entry",
                        extra={"entry_id": reclaimed.entry_id, "times_delivered": reclaimed.times_delivered},
                    )
                    return reclaimed
        return self.broker.read(self.config.consumer, self.config.task_types, self.config.block_ms)

    def process(self, delivery: Delivery) -> None:
        """One stream entry: ACKed once settled (done, failed, cancelled); handed back when released."""
        message = delivery.message
        if message is None:
            self._reject(delivery)
            return
        if delivery.times_delivered > self.config.max_attempts:
            logger.warning("attempts exhausted", extra={"task_id": message.task_id})
            self.ctx.sfn.fail(
                message.task_token,
                "worker_lost",
                f"the task was abandoned by {self.config.max_attempts} workers",
            )
            render_answered(self.ctx, message.task_id)
            self.broker.ack(delivery)
            return

        def keepalive() -> None:
            self.broker.hold_lease(message.task_id, self.config.consumer, self.config.visibility_timeout)
            self.broker.touch(delivery, self.config.consumer)

        keepalive()
        try:
            if self.execute(message, keepalive=keepalive):
                self.broker.ack(delivery)
            else:
                self.broker.release(
                    delivery, self.config.consumer, int(self.config.visibility_timeout * 1000) + 1
                )
        finally:
            self.broker.drop_lease(message.task_id)

    def _reject(self, delivery: Delivery) -> None:
        """A poison entry: fail its task at once when the entry still names a token, and dead-letter it. An
        entry too broken to name its task is left to the keeper, which adds a good one from its record."""
        problem = delivery.problem or "unprocessable stream entry"
        logger.error("unprocessable stream entry", extra={"entry_id": delivery.entry_id, "problem": problem})
        named = _named_task(delivery.raw)
        if named is not None:
            task_id, token = named
            self.ctx.sfn.fail(
                token, "internal_error", f"the render message could not be processed: {problem}"
            )
            render_answered(self.ctx, task_id)
        self.broker.dead_letter(delivery, problem)

    def execute(self, message: RenderMessage, keepalive: Callable[[], None] | None = None) -> bool:
        """Render one task and answer its Step Functions token. False when released on shutdown."""
        answered = self._answer(message, keepalive)
        if answered:
            render_answered(self.ctx, message.task_id)
        return answered

    def _answer(self, message: RenderMessage, keepalive: Callable[[], None] | None) -> bool:
        token = message.task_token
        log = {"task_id": message.task_id}
        job = self.ctx.store.get_task(message.workspace_id, message.task_id)
        if job is None:
            logger.error("render message for an unknown task", extra=log)
            self.ctx.sfn.fail(token, "internal_error", f"task {message.task_id} does not exist")
            return True
        if job.status.is_terminal:
            if job.status is JobStatus.completed:
                self.ctx.sfn.succeed(token, StepOutcome(task_id=job.id, status=job.status).model_dump_json())
            return True
        heartbeat = _Heartbeat(self, token, keepalive)
        heartbeat.start()
        try:
            completed = self._transcribe(job) if job.task_type is TaskType.transcribe else self._render(job)
        except _Cancelled:
            logger.info("cancelled", extra=log)
            self.ctx.sfn.fail(token, "cancelled", "task was cancelled")
            return True
        except RenderStopped:
            logger.info("released on shutdown", extra=log)  # handed back: another worker takes it at once
            return False
        except JobFailure as failure:
            self.ctx.sfn.fail(token, failure.code, failure.message)
            return True
        except Exception as exc:
            logger.exception("render failed", extra=log)
            self.ctx.sfn.fail(token, "internal_error", f"render failed: {type(exc).__name__}")
            return True
        finally:
            heartbeat.stop()
        self.ctx.sfn.succeed(
            token, StepOutcome(task_id=completed.id, status=completed.status).model_dump_json()
        )
        logger.info("completed", extra=log)
        return True

    def _transcribe(self, job: Job) -> Job:
        """An offline transcription from the broker: the same service the local Transcribe step runs."""
        transcribe_offline_job(self.ctx, job)
        return load_job(self.ctx, job.workspace_id, job.id)

    def _render(self, job: Job) -> Job:
        if job.task_type is None or job.source_key is None or job.media is None:
            raise JobFailure("internal_error", "task was not ingested")
        try:
            engine = self.engines.create(job.task_type, job.options, job.media)
        except EngineUnavailable as exc:
            raise JobFailure("internal_error", str(exc)) from exc
        spec = output_spec(job.task_type, job.options)
        progress = _Progress(self, job)
        progress.stage(ProgressStage.downloading, force=True)
        with tempfile.TemporaryDirectory(prefix="framelane-render-") as workdir:
            source = os.path.join(workdir, "source")
            target = os.path.join(workdir, f"output.{spec.extension}")
            self.ctx.blobs.download_file(job.source_key, source)
            progress.stage(ProgressStage.compositing, force=True)
            stats = render(
                source,
                target,
                engine,
                spec,
                on_progress=progress.frames,
                should_stop=progress.should_stop,
            )
            credentials = sign_output(self.ctx, job, source, target, spec, engine)
            progress.stage(ProgressStage.uploading, force=True)
            key = output_key(job, spec.extension)
            size = self.ctx.blobs.upload_file(target, key, spec.content_type)
        current = progress.job
        output = JobOutput(
            url=f"s3://{self.ctx.blobs.bucket}/{key}",
            width=stats.width,
            height=stats.height,
            duration=round(stats.duration, 3),
            size_bytes=size,
            content_credentials=credentials,
        )
        completed = transition(
            self.ctx,
            current,
            frozenset({JobStatus.processing}),
            status=JobStatus.completed,
            progress_percent=100,
            output=output,
            output_key=key,
        )
        if completed is None:
            latest = load_job(self.ctx, job.workspace_id, job.id)
            if latest.status is JobStatus.cancelled:
                raise _Cancelled()
            return latest  # a duplicate delivery finished first: same key, one output
        return completed


class _Progress:
    """Writes progress_percent/stage at most every 0.5 s, checks cancellation, emits task.progress events."""

    def __init__(self, worker: RendererWorker, job: Job) -> None:
        self.worker = worker
        self.job = job
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
        if self.worker.stopping.is_set():
            raise RenderStopped("worker is shutting down")
        now = time.monotonic()
        if now - self._last_cancel_check < CANCEL_CHECK_INTERVAL:
            return False
        self._last_cancel_check = now
        try:
            cancelled = self.worker.broker.is_cancelled(self.job.id)
        except Exception:  # Redis away (restart, failover): keep rendering, ask again at the next check
            logger.warning("cancel check failed", exc_info=True, extra={"task_id": self.job.id})
            return False
        if cancelled:
            raise _Cancelled()
        return False

    def _write(self, percent: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (now - self._last_write < PROGRESS_WRITE_INTERVAL or percent == self._percent):
            return
        self._last_write, self._percent = now, percent
        updated = transition(
            self.worker.ctx,
            self.job,
            frozenset({JobStatus.queued, JobStatus.processing}),
            status=JobStatus.processing,
            progress_percent=percent,
            progress_stage=self._stage,
            estimated_seconds_remaining=self._seconds_left,
        )
        if updated is None:
            raise _Cancelled()
        self.job = updated
        try:
            emit_progress(self.worker.ctx, self.job.workspace_id, self.job.id)
        except Exception:  # progress events are best effort: a Redis blip must not fail the render
            logger.warning("progress event skipped", exc_info=True, extra={"task_id": self.job.id})


class _Heartbeat:
    """Keeps the Step Functions step alive (SendTaskHeartbeat) and, on the stream, the entry and the lease
    (`keepalive`), each from its own thread: a Redis call retrying through an outage must not delay the step's
    heartbeat past HeartbeatSeconds."""

    def __init__(self, worker: RendererWorker, token: str, keepalive: Callable[[], None] | None) -> None:
        self.worker = worker
        self._stop = threading.Event()
        beats: list[tuple[str, Callable[[], object]]] = [("step", lambda: worker.ctx.sfn.heartbeat(token))]
        if keepalive is not None:
            beats.append(("stream", keepalive))
        self._threads = [
            threading.Thread(target=self._beat, args=beat, name=f"heartbeat-{beat[0]}", daemon=True)
            for beat in beats
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _beat(self, name: str, beat: Callable[[], object]) -> None:
        interval = min(self.worker.config.heartbeat_interval, self.worker.config.visibility_timeout / 3)
        while not self._stop.wait(interval):
            try:
                beat()
            except Exception:
                logger.exception("heartbeat failed", extra={"beat": name})


def _named_task(raw: str) -> tuple[str, str] | None:
    """(task id, token) from an entry that is JSON naming both, however wrong the rest is."""
    try:
        fields = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    task_id, token = fields.get("task_id"), fields.get("task_token")
    if isinstance(task_id, str) and isinstance(token, str) and token:
        return task_id, token
    return None


def worker_from_settings(
    ctx: ServiceContext, engines: EngineRegistry, consumer: str | None = None
) -> RendererWorker:
    settings = ctx.settings
    check_signing_setup(settings)  # a bad C2PA certificate stops the worker here, not on every task
    return RendererWorker(
        ctx,
        engines,
        WorkerConfig(
            consumer=consumer or RendererWorker.default_consumer(),
            visibility_timeout=settings.worker_visibility_timeout,
            max_attempts=settings.worker_max_attempts,
        ),
    )
