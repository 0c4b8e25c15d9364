"""SQS pollers standing in for the Lambda event sources of the pipeline queues (local stack and tests), and
the render queue keeper standing in for the scheduled Lambda that runs it on AWS."""

from __future__ import annotations

import json
import threading

from aws_lambda_powertools import Logger

from framelane.adapters.sqs import ReceivedMessage
from framelane.pipeline.steps import CALLBACK_STEPS, MAX_RECEIVES, run_callback_step_or_fail, run_notify
from framelane.services.context import ServiceContext
from framelane.services.render_queue import tend_render_queue
from framelane.services.s3_trigger import tasks_from_s3_event

logger = Logger(service="framelane-local-pollers")


class QueuePollers:
    def __init__(
        self, ctx: ServiceContext, steps: tuple[str, ...] = (*CALLBACK_STEPS, "notify", "s3-events")
    ) -> None:
        if ctx.queues is None:
            raise ValueError("pollers need FRAMELANE_QUEUE_URL_PREFIX")
        self.ctx = ctx
        self.steps = steps
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for step in self.steps:
            thread = threading.Thread(target=self._poll, args=(step,), name=f"poller-{step}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.ctx.broker is not None:
            keeper = threading.Thread(target=self._keep_render_queue, name="render-queue-keeper", daemon=True)
            keeper.start()
            self._threads.append(keeper)

    def _keep_render_queue(self) -> None:
        """Every `render_queue_keeper_interval`: heartbeat waiting renders, re-add lost entries."""
        while not self._stop.wait(self.ctx.settings.render_queue_keeper_interval):
            try:
                tend_render_queue(self.ctx)
            except Exception:
                logger.exception("render queue keeper pass failed")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _poll(self, step: str) -> None:
        assert self.ctx.queues is not None
        while not self._stop.is_set():
            try:
                messages = self.ctx.queues.receive(step, wait_seconds=1)
            except Exception:
                logger.exception("receive failed", extra={"step": step})
                self._stop.wait(1)
                continue
            for message in messages:
                self._handle(step, message)

    def _handle(self, step: str, message: ReceivedMessage) -> None:
        assert self.ctx.queues is not None
        try:
            if step == "notify":
                run_notify(self.ctx, message.body)
            elif step == "s3-events":
                tasks_from_s3_event(self.ctx, json.loads(message.body))
            else:
                run_callback_step_or_fail(self.ctx, step, message.body, message.receive_count)
        except Exception:
            logger.exception("step raised", extra={"step": step, "receive_count": message.receive_count})
            if message.receive_count < MAX_RECEIVES:
                return  # left on the queue: redelivered after the visibility timeout
        self.ctx.queues.delete(step, message.receipt_handle)
