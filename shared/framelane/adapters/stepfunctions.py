"""All Step Functions access: starting a task's execution."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from framelane.models import TaskExecutionInput

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class StepFunctionsStarter:
    """Starts the task state machine; the execution name is the task id, so a retried start is a no-op."""

    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self._client = client
        self.state_machine_arn = state_machine_arn

    def start(self, payload: TaskExecutionInput) -> None:
        try:
            self._client.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=payload.task_id,
                input=payload.model_dump_json(),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
