"""The renderer worker: consume the Redis streams, hand each task to the render service, resume the execution.

At-least-once: an entry is ACKed only after the output is in S3 and the task row says completed. A worker
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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from framelane.adapters.redis_streams import Delivery, RedisBroker
from framelane.engines.base import EngineRegistry
from framelane.errors import TaskCancelled, TaskFailure
from framelane.logs import SERVICE
from framelane.media.transcode import RenderStopped
from framelane.models import RenderMessage, StepOutcome, Task, TaskErrorCode, TaskStatus, TaskType
from framelane.models.pipeline import unit_id
from framelane.provenance.outputs import check_signing_setup
from framelane.services.context import ServiceContext
from framelane.services.render import RenderCancelled, render_segment, render_task, stitch_task
from framelane.services.render_queue import render_answered
from framelane.services.task_state import load_task
from framelane.services.transcription import transcribe_offline_task

logger = Logger(service=SERVICE, child=True)

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
            render_answered(self.ctx, message.unit_id)
            self.broker.ack(delivery)
            return

        def keepalive() -> None:
            self.broker.hold_lease(message.unit_id, self.config.consumer, self.config.visibility_timeout)
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
            self.broker.drop_lease(message.unit_id)

    def _reject(self, delivery: Delivery) -> None:
        """A poison entry: fail its task at once when the entry still names a token, and dead-letter it. An
        entry too broken to name its task is left to the keeper, which adds a good one from its record."""
        problem = delivery.problem or "unprocessable stream entry"
        logger.error("unprocessable stream entry", extra={"entry_id": delivery.entry_id, "problem": problem})
        named = _named_task(delivery.raw)
        if named is not None:
            unit, token = named
            self.ctx.sfn.fail(
                token, "internal_error", f"the render message could not be processed: {problem}"
            )
            render_answered(self.ctx, unit)
        self.broker.dead_letter(delivery, problem)

    def execute(self, message: RenderMessage, keepalive: Callable[[], None] | None = None) -> bool:
        """Render one task and answer its Step Functions token. False when released on shutdown."""
        answered = self._answer(message, keepalive)
        if answered:
            render_answered(self.ctx, message.unit_id)
        return answered

    def _answer(self, message: RenderMessage, keepalive: Callable[[], None] | None) -> bool:
        token = message.task_token
        log = {"task_id": message.task_id, "unit": message.unit_id}
        task = self.ctx.store.get_task(message.workspace_id, message.task_id)
        if task is None:
            logger.error("render message for an unknown task", extra=log)
            self.ctx.sfn.fail(token, TaskErrorCode.internal_error, f"task {message.task_id} does not exist")
            return True
        if task.status.is_terminal:
            if task.status is TaskStatus.completed:
                self.ctx.sfn.succeed(
                    token, StepOutcome(task_id=task.id, status=task.status).model_dump_json()
                )
            return True
        heartbeat = _Heartbeat(self, token, keepalive)
        heartbeat.start()
        try:
            if task.task_type is TaskType.transcribe:
                completed = self._transcribe(task)
            else:
                completed = self._render(message, task)
        except (RenderCancelled, TaskCancelled):
            logger.info("cancelled", extra=log)
            self.ctx.sfn.fail(token, TaskCancelled.name, "task was cancelled")
            return True
        except RenderStopped:
            logger.info("released on shutdown", extra=log)  # handed back: another worker takes it at once
            return False
        except TaskFailure as failure:
            self.ctx.sfn.fail(token, failure.error, failure.message)
            return True
        except Exception as exc:
            logger.exception("render failed", extra=log)
            self.ctx.sfn.fail(token, TaskErrorCode.internal_error, f"render failed: {type(exc).__name__}")
            return True
        finally:
            heartbeat.stop()
        self.ctx.sfn.succeed(
            token, StepOutcome(task_id=completed.id, status=completed.status).model_dump_json()
        )
        logger.info("completed", extra=log)
        return True

    def _transcribe(self, task: Task) -> Task:
        """An offline transcription from the broker: the same service the local Transcribe step runs."""
        transcribe_offline_task(self.ctx, task)
        return load_task(self.ctx, task.workspace_id, task.id)

    def _render(self, message: RenderMessage, task: Task) -> Task:
        """The unit's work: a whole task, one of its segments, or the stitch of its segments."""
        if message.stitch:
            return stitch_task(self.ctx, self.engines, task, self.stopping)
        if message.segment is not None:
            render_segment(self.ctx, self.engines, task, message.segment, self.stopping)
            return task
        return render_task(self.ctx, self.engines, task, self.stopping)


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
    """(unit id, token) from an entry that is JSON naming its task and token, however wrong the rest is."""
    try:
        fields = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    task_id, token = fields.get("task_id"), fields.get("task_token")
    if isinstance(task_id, str) and isinstance(token, str) and token:
        segment, stitch = fields.get("segment"), fields.get("stitch") is True
        return unit_id(task_id, segment if isinstance(segment, int) else None, stitch), token
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
