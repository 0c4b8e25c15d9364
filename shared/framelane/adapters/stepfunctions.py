"""All Step Functions access: starting and stopping executions, answering callback steps."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from framelane.models import TaskExecutionInput

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# Tokens that can no longer be answered: the step already ended (duplicate delivery) or timed out.
_GONE_TOKEN_ERRORS = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


class StepFunctions:
    def __init__(
        self, client: SFNClient, task_state_machine_arn: str | None, webhook_state_machine_arn: str | None
    ) -> None:
        self._client = client
        self.task_state_machine_arn = task_state_machine_arn
        self.webhook_state_machine_arn = webhook_state_machine_arn

    def create_state_machine(self, name: str, definition: dict[str, Any], role_arn: str) -> str:
        arn: str = self._client.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=role_arn
        )["stateMachineArn"]
        return arn

    def start_task(self, payload: TaskExecutionInput) -> None:
        """Start the task state machine; the execution name is the task id, so a retried start is a no-op."""
        if self.task_state_machine_arn is None:
            return
        self._start(self.task_state_machine_arn, payload.task_id, payload.model_dump_json())

    def start_webhook_delivery(self, name: str, payload_json: str) -> None:
        if self.webhook_state_machine_arn is None:
            return
        self._start(self.webhook_state_machine_arn, name, payload_json)

    def _start(self, arn: str, name: str, payload_json: str) -> None:
        try:
            self._client.start_execution(stateMachineArn=arn, name=name, input=payload_json)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise

    def stop_task(self, task_id: str, cause: str) -> None:
        if self.task_state_machine_arn is None:
            return
        execution_arn = self.task_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{task_id}"
        try:
            self._client.stop_execution(executionArn=execution_arn, error="Cancelled", cause=cause)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in {"ExecutionDoesNotExist", "ValidationException"}:
                raise

    def succeed(self, token: str, output: str) -> bool:
        """Resume a callback step; False if the step no longer waits for this token."""
        return self._answer(lambda: self._client.send_task_success(taskToken=token, output=output))

    def fail(self, token: str, error: str, cause: str) -> bool:
        return self._answer(
            lambda: self._client.send_task_failure(taskToken=token, error=error, cause=cause[:32768])
        )

    def heartbeat(self, token: str) -> bool:
        return self._answer(lambda: self._client.send_task_heartbeat(taskToken=token))

    @staticmethod
    def _answer(call: Any) -> bool:
        try:
            call()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _GONE_TOKEN_ERRORS:
                return False
            raise
        return True
