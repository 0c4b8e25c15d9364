"""The pipeline's moving parts in one process: SQS pollers (for the Lambda event sources) and a worker."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from framelane.config import Settings
from framelane.engines.base import EngineRegistry
from framelane.local.pipeline_setup import create_local_pipeline
from framelane.local.pollers import QueuePollers
from framelane.services.context import ServiceContext, build_context
from framelane.worker.runtime import RendererWorker, worker_from_settings


def with_local_pipeline(settings: Settings, name: str = "framelane") -> Settings:
    """Create queues and state machines on the emulator; settings that point at them."""
    ctx = build_context(settings)
    pipeline = create_local_pipeline(settings, ctx.sfn, ctx.blobs, name)
    return settings.model_copy(
        update={
            "queue_url_prefix": pipeline.queue_url_prefix,
            "task_state_machine_arn": pipeline.task_state_machine_arn,
            "webhook_state_machine_arn": pipeline.webhook_state_machine_arn,
        }
    )


@dataclass
class InProcessPipeline:
    pollers: QueuePollers
    worker: RendererWorker | None = None
    worker_thread: threading.Thread | None = None

    def stop(self) -> None:
        if self.worker is not None and self.worker_thread is not None:
            self.worker.stopping.set()
            self.worker_thread.join(timeout=30)
        self.pollers.stop()


def start_in_process_pipeline(ctx: ServiceContext, engines: EngineRegistry | None) -> InProcessPipeline:
    """Pollers always; a renderer worker thread when `engines` is given."""
    pollers = QueuePollers(ctx)
    pollers.start()
    in_process = InProcessPipeline(pollers)
    if engines is not None:
        in_process.worker = worker_from_settings(ctx, engines, consumer="local-worker")
        in_process.worker_thread = threading.Thread(
            target=in_process.worker.run, name="renderer-worker", daemon=True
        )
        in_process.worker_thread.start()
    return in_process
