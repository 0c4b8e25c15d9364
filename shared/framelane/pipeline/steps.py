"""The code steps of the state machines, keyed by queue: parse the message, run the service, answer the token.

The Lambda handlers in functions/ and the local pollers both call `run_callback_step_or_fail` (and
`run_notify`), so AWS and the local stack run the same code for every step.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from framelane.errors import StepSignal, TaskFailure
from framelane.logs import SERVICE
from framelane.models import (
    CallbackMessage,
    FinalizeInput,
    NotifyMessage,
    RenderMessage,
    RenderStepInput,
    TaskErrorCode,
    TaskExecutionInput,
    WebhookDeliveryInput,
)
from framelane.services.context import ServiceContext
from framelane.services.finalize import finalize
from framelane.services.ingest import ingest
from framelane.services.notify import notify
from framelane.services.render_queue import dispatch_render
from framelane.services.transcription import transcribe_task
from framelane.services.webhook_delivery import deliver

logger = Logger(service=SERVICE, child=True)
MAX_RECEIVES = 3  # SQS deliveries of a step message; the CDK queues' DLQ max_receive_count matches

# A callback step returns the output to resume the execution with, or None when someone else answers later.
CallbackHandler = Callable[[ServiceContext, CallbackMessage], BaseModel | None]


def _ingest(ctx: ServiceContext, message: CallbackMessage) -> BaseModel:
    return ingest(ctx, TaskExecutionInput.model_validate(message.payload))


def _dispatch(ctx: ServiceContext, message: CallbackMessage) -> None:
    """Hand a render unit (whole task, segment, stitch) to the render queue; its worker answers the token."""
    payload = RenderStepInput.model_validate(message.payload)
    dispatch_render(ctx, RenderMessage.for_unit(payload, message.task_token))


def _transcribe(ctx: ServiceContext, message: CallbackMessage) -> BaseModel | None:
    return transcribe_task(ctx, TaskExecutionInput.model_validate(message.payload), message.task_token)


def _finalize(ctx: ServiceContext, message: CallbackMessage) -> BaseModel:
    return finalize(ctx, FinalizeInput.model_validate(message.payload))


def _deliver(ctx: ServiceContext, message: CallbackMessage) -> BaseModel:
    return deliver(ctx, WebhookDeliveryInput.model_validate(message.payload))


CALLBACK_STEPS: dict[str, CallbackHandler] = {
    "ingest": _ingest,
    "dispatch": _dispatch,
    "transcribe": _transcribe,
    "finalize": _finalize,
    "webhook": _deliver,
}


def run_callback_step(ctx: ServiceContext, step: str, body: str) -> None:
    """Run one callback message. A TaskFailure or StepSignal fails the step under its name (the state machine's
    Catch or Retry takes it); other errors propagate so the message is redelivered, and `fail_callback_step`
    ends it once redelivery is exhausted."""
    message = CallbackMessage.model_validate_json(body)
    try:
        result = CALLBACK_STEPS[step](ctx, message)
    except (TaskFailure, StepSignal) as failure:
        logger.info("step ended", extra={"step": step, "error": failure.error, "reason": failure.message})
        ctx.sfn.fail(message.task_token, failure.error, failure.message)
        return
    if result is not None:
        ctx.sfn.succeed(message.task_token, result.model_dump_json())


def fail_callback_step(ctx: ServiceContext, body: str, reason: str) -> None:
    message = CallbackMessage.model_validate_json(body)
    ctx.sfn.fail(message.task_token, TaskErrorCode.internal_error, reason)


def run_callback_step_or_fail(ctx: ServiceContext, step: str, body: str, receive_count: int) -> None:
    """`run_callback_step`, except that the last delivery SQS makes (MAX_RECEIVES, as the DLQ redrive policy)
    fails the step with `internal_error` instead of raising: a message that cannot be processed ends its task
    at once, rather than waiting out the step's timeout in a dead-letter queue."""
    try:
        run_callback_step(ctx, step, body)
    except Exception:
        if receive_count < MAX_RECEIVES:
            raise
        logger.exception("step failed on its last delivery", extra={"step": step})
        fail_callback_step(ctx, body, f"{step} failed {MAX_RECEIVES} times")


def run_notify(ctx: ServiceContext, body: str) -> None:
    notify(ctx, NotifyMessage.model_validate_json(body))
