"""The state machine definitions (Amazon States Language), one source for CDK and the local stack.

Code steps use `sqs:sendMessage.waitForTaskToken`: the same ASL runs on AWS (SQS → Lambda) and locally
(moto executes it; pollers stand in for the Lambda event sources).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framelane.errors import TranscriptionPending, WorkspaceBusy

CALLBACK = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
SEND = "arn:aws:states:::sqs:sendMessage"
TIMEOUTS = ["States.Timeout", "States.HeartbeatTimeout"]


@dataclass(frozen=True)
class TaskMachineConfig:
    ingest_queue_url: str
    dispatch_queue_url: str
    finalize_queue_url: str
    notify_queue_url: str
    transcribe_queue_url: str | None = None  # unused (and absent on AWS) with transcribe_on_workers
    ingest_timeout_seconds: int = 1800
    transcription_callback_timeout_seconds: int = 900
    transcription_poll_interval_seconds: int = 30
    transcription_poll_attempts: int = 240
    # a transcription waits for a free slot of its workspace's concurrency quota (`workspace_busy`)
    slot_wait_interval_seconds: int = 10
    slot_wait_attempts: int = 360
    # running renders are heartbeated by their worker (every 10 s), waiting ones by the render queue keeper
    # (every minute on AWS): several keeper intervals, so one late keeper run does not fail a waiting render
    render_heartbeat_seconds: int = 300
    render_timeout_seconds: int = 6 * 3600
    # one task's segments rendered at once: the share of the workers a long task takes (README, fair sharing)
    segment_max_concurrency: int = 4
    stitch_timeout_seconds: int = 3600
    finalize_timeout_seconds: int = 300
    # offline transcription on the GPU worker fleet: the Transcribe step goes through the broker like a render
    # (AWS without an AssemblyAI key: the offline engine does not fit a zip Lambda)
    transcribe_on_workers: bool = False


def _callback_step(
    queue_url: str, *, next_state: str | None, result_path: str | None, **extra: Any
) -> dict[str, Any]:
    step: dict[str, Any] = {
        "Type": "Task",
        "Resource": CALLBACK,
        "Parameters": {
            "QueueUrl": queue_url,
            "MessageBody": {"task_token.$": "$$.Task.Token", "payload.$": "$"},
        },
        "ResultPath": result_path,
        **extra,
    }
    if next_state is None:
        step["End"] = True
    else:
        step["Next"] = next_state
    return step


def task_fields() -> tuple[str, ...]:
    return ("task_id", "workspace_id", "task_type", "source_url")


def _render_step(
    config: TaskMachineConfig, body: dict[str, Any], next_state: str | None, **extra: Any
) -> dict[str, Any]:
    """A render unit handed to the dispatcher (whole task, segment or stitch): the worker answers the token."""
    step = _callback_step(
        config.dispatch_queue_url,
        next_state=next_state,
        result_path=None,
        HeartbeatSeconds=config.render_heartbeat_seconds,
        **extra,
    )
    step["Parameters"]["MessageBody"]["payload"] = body
    del step["Parameters"]["MessageBody"]["payload.$"]
    return step


def task_state_machine(config: TaskMachineConfig) -> dict[str, Any]:
    catch_to_failure = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}]
    render_catch = [
        {"ErrorEquals": TIMEOUTS, "ResultPath": "$.error", "Next": "WorkerLost"},
        *catch_to_failure,
    ]
    task = {f"{name}.$": f"$.{name}" for name in task_fields()}
    return {
        "Comment": "Framelane task: ingest → process (whole, or segments → stitch) → finalize → notify",
        "StartAt": "Ingest",
        "States": {
            "Ingest": _callback_step(
                config.ingest_queue_url,
                next_state="Route",
                result_path="$.plan",
                TimeoutSeconds=config.ingest_timeout_seconds,
                Catch=catch_to_failure,
            ),
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.task_type", "StringEquals": "transcribe", "Next": "Transcribe"},
                    {"Variable": "$.plan.segmented", "BooleanEquals": True, "Next": "RenderSegments"},
                ],
                "Default": "Render",
            },
            "Render": _render_step(
                config,
                task,
                "RecordSuccess",
                TimeoutSeconds=config.render_timeout_seconds,
                Catch=render_catch,
            ),
            # a long source: one broker message per segment (own token, heartbeat, retry), at most
            # segment_max_concurrency at once, then one Stitch that joins them
            "RenderSegments": {
                "Type": "Map",
                "ItemsPath": "$.plan.segments",
                "MaxConcurrency": config.segment_max_concurrency,
                "ItemSelector": {**task, "segment.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "RenderSegment",
                    "States": {
                        "RenderSegment": _render_step(
                            config,
                            {f"{name}.$": f"$.{name}" for name in (*task_fields(), "segment")},
                            None,
                            TimeoutSeconds=config.render_timeout_seconds,
                        )
                    },
                },
                "ResultPath": None,
                "Next": "Stitch",
                "Catch": render_catch,
            },
            "Stitch": _render_step(
                config,
                {**task, "stitch": True},
                "RecordSuccess",
                TimeoutSeconds=config.stitch_timeout_seconds,
                Catch=render_catch,
            ),
            "WorkerLost": {
                "Type": "Pass",
                "Parameters": {"Error": "worker_lost", "Cause": "no worker reported progress in time"},
                "ResultPath": "$.error",
                "Next": "RecordFailure",
            },
            **(_transcribe_on_workers(config) if config.transcribe_on_workers else _transcribe_here(config)),
            "RecordSuccess": _callback_step(
                config.finalize_queue_url,
                next_state="ShouldNotify",
                result_path="$.finalized",
                TimeoutSeconds=config.finalize_timeout_seconds,
                Retry=[{"ErrorEquals": TIMEOUTS, "MaxAttempts": 2, "IntervalSeconds": 2}],
                Catch=catch_to_failure,
            ),
            "RecordFailure": _callback_step(
                config.finalize_queue_url,
                next_state="ShouldNotify",
                result_path="$.finalized",
                TimeoutSeconds=config.finalize_timeout_seconds,
                Retry=[{"ErrorEquals": TIMEOUTS, "MaxAttempts": 2, "IntervalSeconds": 2}],
            ),
            "ShouldNotify": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.finalized.event", "IsNull": True, "Next": "Done"}],
                "Default": "Notify",
            },
            "Notify": {
                "Type": "Task",
                "Resource": SEND,
                "Parameters": {
                    "QueueUrl": config.notify_queue_url,
                    "MessageBody": {
                        "task_id.$": "$.task_id",
                        "workspace_id.$": "$.workspace_id",
                        "event.$": "$.finalized.event",
                    },
                },
                "Retry": [
                    {"ErrorEquals": ["States.ALL"], "MaxAttempts": 3, "IntervalSeconds": 1, "BackoffRate": 2}
                ],
                "End": True,
            },
            "Done": {"Type": "Succeed"},
        },
    }


def _transcribe_here(config: TaskMachineConfig) -> dict[str, Any]:
    """The Transcribe step's own code transcribes: AssemblyAI answers through its webhook (callback route),
    polled when no answer came in time; without a key the step runs the offline engine itself."""
    if config.transcribe_queue_url is None:
        raise ValueError("the Transcribe step needs its queue (or transcribe_on_workers)")
    queue = config.transcribe_queue_url
    catch_to_failure = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}]
    return {
        "Transcribe": _callback_step(
            queue,
            next_state="RecordSuccess",
            result_path=None,
            TimeoutSeconds=config.transcription_callback_timeout_seconds,
            Retry=[
                {
                    "ErrorEquals": [WorkspaceBusy.name],
                    "IntervalSeconds": config.slot_wait_interval_seconds,
                    "MaxAttempts": config.slot_wait_attempts,
                    "BackoffRate": 1.0,
                }
            ],
            Catch=[
                {"ErrorEquals": TIMEOUTS, "ResultPath": None, "Next": "StartPolling"},
                *catch_to_failure,
            ],
        ),
        "StartPolling": {
            "Type": "Pass",
            "Result": True,
            "ResultPath": "$.poll",
            "Next": "PollTranscript",
        },
        "PollTranscript": _callback_step(
            queue,
            next_state="RecordSuccess",
            result_path=None,
            TimeoutSeconds=300,
            Retry=[
                {
                    "ErrorEquals": [TranscriptionPending.name],
                    "IntervalSeconds": config.transcription_poll_interval_seconds,
                    "MaxAttempts": config.transcription_poll_attempts,
                    "BackoffRate": 1.0,
                }
            ],
            Catch=catch_to_failure,
        ),
    }


def _transcribe_on_workers(config: TaskMachineConfig) -> dict[str, Any]:
    """The offline engine on the renderer workers: dispatched to the broker's transcribe stream and timed like a
    render (heartbeat once a worker runs it; the render queue keeper heartbeats it while it waits)."""
    task = {f"{name}.$": f"$.{name}" for name in task_fields()}
    return {
        "Transcribe": _render_step(
            config,
            task,
            "RecordSuccess",
            TimeoutSeconds=config.render_timeout_seconds,
            Catch=[
                {"ErrorEquals": TIMEOUTS, "ResultPath": "$.error", "Next": "WorkerLost"},
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"},
            ],
        )
    }


def webhook_state_machine(webhook_queue_url: str, attempt_timeout_seconds: int = 120) -> dict[str, Any]:
    """One event to one destination: Deliver → (delivered | Wait(retry_in) → Deliver | give up)."""
    return {
        "Comment": "Framelane webhook delivery with Standard Webhooks retry schedule",
        "StartAt": "Deliver",
        "States": {
            "Deliver": _callback_step(
                webhook_queue_url,
                next_state="Decide",
                result_path="$.result",
                TimeoutSeconds=attempt_timeout_seconds,
                Retry=[{"ErrorEquals": TIMEOUTS, "MaxAttempts": 2, "IntervalSeconds": 5}],
            ),
            "Decide": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.result.delivered", "BooleanEquals": True, "Next": "Delivered"},
                    {"Variable": "$.result.retry_in_seconds", "IsNull": True, "Next": "GiveUp"},
                ],
                "Default": "WaitBeforeRetry",
            },
            "WaitBeforeRetry": {
                "Type": "Wait",
                "SecondsPath": "$.result.retry_in_seconds",
                "Next": "NextAttempt",
            },
            "NextAttempt": {
                "Type": "Pass",
                "Parameters": {
                    "workspace_id.$": "$.workspace_id",
                    "endpoint_id.$": "$.endpoint_id",
                    "url.$": "$.url",
                    "event_id.$": "$.event_id",
                    "body.$": "$.body",
                    "attempt.$": "$.result.attempt",
                },
                "Next": "Deliver",
            },
            "Delivered": {"Type": "Succeed"},
            "GiveUp": {
                "Type": "Fail",
                "Error": "WebhookDeliveryFailed",
                "Cause": "the endpoint did not accept it",
            },
        },
    }
