"""Creates the local pipeline on moto: SQS queues, both state machines, the S3 upload notification."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from framelane.adapters.aws import sqs_client
from framelane.config import Settings
from framelane.pipeline.asl import TaskMachineConfig, task_state_machine, webhook_state_machine
from framelane.services.ports import BlobStore, Workflows

LOCAL_ROLE_ARN = "arn:aws:iam::123456789012:role/framelane-state-machines"


@dataclass(frozen=True)
class LocalPipeline:
    queue_url_prefix: str
    task_state_machine_arn: str
    webhook_state_machine_arn: str


def create_local_pipeline(
    settings: Settings,
    sfn: Workflows,
    blobs: BlobStore,
    name: str = "framelane",
    task_machine: Callable[[Mapping[str, str]], TaskMachineConfig] | None = None,
) -> LocalPipeline:
    """`task_machine` makes the task state machine's settings from the queue URLs (a deployment stage's, as the
    CDK does); by default they come from `settings`, the local stack's."""
    sqs = sqs_client(settings)
    urls = {}
    for step in ("ingest", "dispatch", "transcribe", "finalize", "notify", "webhook", "s3-events"):
        urls[step] = sqs.create_queue(QueueName=f"{name}-{step}", Attributes={"VisibilityTimeout": "120"})[
            "QueueUrl"
        ]
    prefix = urls["ingest"].removesuffix("ingest")
    config = (
        task_machine(urls)
        if task_machine
        else TaskMachineConfig(
            ingest_queue_url=urls["ingest"],
            dispatch_queue_url=urls["dispatch"],
            finalize_queue_url=urls["finalize"],
            notify_queue_url=urls["notify"],
            transcribe_queue_url=urls["transcribe"],
            transcription_callback_timeout_seconds=settings.transcription_callback_timeout_seconds,
            transcription_poll_interval_seconds=settings.transcription_poll_interval_seconds,
            render_heartbeat_seconds=settings.render_heartbeat_seconds,
            segment_max_concurrency=settings.segment_max_concurrency,
        )
    )
    task_arn = sfn.create_state_machine(f"{name}-task", task_state_machine(config), LOCAL_ROLE_ARN)
    webhook_arn = sfn.create_state_machine(
        f"{name}-webhook", webhook_state_machine(urls["webhook"]), LOCAL_ROLE_ARN
    )
    queue_arn = sqs.get_queue_attributes(QueueUrl=urls["s3-events"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    blobs.notify_queue_on_uploads(queue_arn, "uploads/")
    return LocalPipeline(prefix, task_arn, webhook_arn)
