"""The task and webhook state machines (the same ASL the local stack runs), their SQS queues with DLQs,
and the Lambdas behind the callback steps (SQS event sources with partial batch failures)."""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from framelane.pipeline.asl import task_state_machine, webhook_state_machine
from infra.config import StageConfig
from infra.constructs import access
from infra.constructs.functions import FunctionFactory
from infra.constructs.storage import Storage

# step → (Lambda timeout, queue visibility timeout) in seconds. The visibility is at least the Lambda timeout (no
# second delivery while the first runs) and below the timeout of every state that waits on the queue, and
# maxReceiveCount × visibility fits in the longest of them, so every redelivery happens while the state still
# waits (Ingest 1800 s; Transcribe 900 s and PollTranscript 300 s; Render's 300 s heartbeat; RecordSuccess and
# RecordFailure 300 s; a webhook attempt 120 s). tests/infra/test_production.py checks this against the ASL.
CALLBACK_STEPS = {
    "ingest": (540, 600),
    "dispatch": (20, 30),
    "transcribe": (240, 270),
    "finalize": (60, 90),
    "webhook": (30, 40),
}
OTHER_QUEUES = {"notify": (60, 360), "s3-events": (60, 360)}  # no state waits on these
MAX_RECEIVES = 3


class Orchestration(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        storage: Storage,
        functions: FunctionFactory,
        name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters: dict[str, sqs.Queue] = {}
        self.queues: dict[str, sqs.Queue] = {}
        # without an AssemblyAI key the offline engine runs on the GPU workers: no transcribe queue or Lambda
        callback_steps = {
            s: v for s, v in CALLBACK_STEPS.items() if s != "transcribe" or not config.transcribe_on_workers
        }
        for step, (_, visibility) in {**callback_steps, **OTHER_QUEUES}.items():
            self.dead_letters[step] = sqs.Queue(
                self,
                f"{step}-dlq",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=Duration.days(14),
            )
            self.queues[step] = sqs.Queue(
                self,
                f"{step}-queue",
                queue_name=f"{name}-{step}",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                visibility_timeout=Duration.seconds(visibility),
                dead_letter_queue=sqs.DeadLetterQueue(
                    max_receive_count=MAX_RECEIVES, queue=self.dead_letters[step]
                ),
            )
        self.task_definition = task_state_machine(
            config.task_machine({step: queue.queue_url for step, queue in self.queues.items()})
        )
        self.webhook_definition = webhook_state_machine(self.queues["webhook"].queue_url)
        self.task_machine = self._state_machine(
            "TaskStateMachine",
            self.task_definition,
            [
                step
                for step in ("ingest", "dispatch", "transcribe", "finalize", "notify")
                if step in self.queues
            ],
        )
        self.webhook_machine = self._state_machine(
            "WebhookStateMachine", self.webhook_definition, ["webhook"]
        )

        self.step_functions: dict[str, lambda_.Function] = {}
        holds_source = {"ingest", "transcribe"}  # download a whole source to /tmp
        for step, (timeout, _) in callback_steps.items():
            function = functions.create(
                f"{step.title()}Step",
                "pipeline_step",
                service=f"framelane-{step}",
                timeout=Duration.seconds(timeout),
                memory={"ingest": 1769, "transcribe": 3008}.get(step, 512),
                environment={"FRAMELANE_STEP": step},
                broker_client=step == "dispatch",
                tmp_gib=config.max_source_gib + 1 if step in holds_source else None,
            )
            if step in holds_source:
                function.add_environment("FRAMELANE_MAX_SOURCE_BYTES", str(config.max_source_gib * 1024**3))
            if step == "ingest":  # ingest decides whether a source renders in segments
                function.add_environment(
                    "FRAMELANE_SEGMENT_THRESHOLD_SECONDS", str(config.segment_threshold_seconds)
                )
                function.add_environment("FRAMELANE_SEGMENT_SECONDS", str(config.segment_seconds))
            self._consume(function, step)
            self._answer_callbacks(function)
            self.step_functions[step] = function
        self.notify_function = functions.create(
            "NotifyStep",
            "notify",
            service="framelane-notify",
            timeout=Duration.seconds(OTHER_QUEUES["notify"][0]),
        )
        self._consume(self.notify_function, "notify")
        self.s3_trigger_function = functions.create(
            "S3Trigger",
            "s3_trigger",
            service="framelane-s3-trigger",
            timeout=Duration.seconds(OTHER_QUEUES["s3-events"][0]),
        )
        self._consume(self.s3_trigger_function, "s3-events")
        storage.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.queues["s3-events"]),
            s3.NotificationKeyFilter(prefix="uploads/"),
        )
        # a callback message that failed every delivery ends its step at once (internal_error), not at the
        # state's timeout; each one counts in the DeadLetters metric, which pages (Observability)
        self.dead_letter_function = functions.create(
            "DeadLetterStep", "dead_letter", service="framelane-dead-letter", timeout=Duration.seconds(30)
        )
        for step in callback_steps:
            self.dead_letter_function.add_event_source(
                sources.SqsEventSource(self.dead_letters[step], batch_size=5, report_batch_item_failures=True)
            )
        self._answer_callbacks(self.dead_letter_function)
        steps = self.step_functions
        # what each step's code touches (dispatch only the broker: wired by the stack)
        for step in ("ingest", "transcribe", "finalize", "webhook"):
            if step in steps:
                access.table(steps[step], steps[step], storage.table)
        access.bucket(steps["ingest"], steps["ingest"], storage.bucket, read=("uploads/",), put=("sources/",))
        if "transcribe" in steps:
            access.bucket(
                steps["transcribe"],
                steps["transcribe"],
                storage.bucket,
                read=("sources/", "uploads/"),
                put=("outputs/",),
            )
        # notify: task rows, output links in the event payload, one webhook execution per destination
        access.table(self.notify_function, self.notify_function, storage.table)
        access.bucket(self.notify_function, self.notify_function, storage.bucket, read=("outputs/",))
        access.starts(
            self.notify_function, self.notify_function, access.WEBHOOK_MACHINE, self.webhook_machine
        )
        # s3 trigger: workspace rows and object metadata, then the task execution
        access.table(self.s3_trigger_function, self.s3_trigger_function, storage.table)
        access.bucket(self.s3_trigger_function, self.s3_trigger_function, storage.bucket, read=("uploads/",))
        access.starts(
            self.s3_trigger_function, self.s3_trigger_function, access.TASK_MACHINE, self.task_machine
        )

    def _state_machine(
        self, construct_id: str, definition: dict[str, object], steps: list[str]
    ) -> sfn.StateMachine:
        role = iam.Role(self, f"{construct_id}Role", assumed_by=iam.ServicePrincipal("states.amazonaws.com"))
        for step in steps:
            self.queues[step].grant_send_messages(role)
        machine = sfn.StateMachine(
            self,
            construct_id,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(definition)),
            role=role,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(
                    self, f"{construct_id}Logs", retention=logs.RetentionDays.ONE_MONTH
                ),
                level=sfn.LogLevel.ALL,  # payloads carry ids only; execution data stays out of the logs
                include_execution_data=False,
            ),
        )
        return machine

    def _consume(self, function: lambda_.Function, step: str) -> None:
        function.add_event_source(
            sources.SqsEventSource(self.queues[step], batch_size=5, report_batch_item_failures=True)
        )

    def _answer_callbacks(self, function: lambda_.Function) -> None:
        """SendTaskSuccess/Failure/Heartbeat are authorized per state machine (by token: no ARN needed)."""
        for machine in (self.task_machine, self.webhook_machine):
            machine.grant_task_response(function)
