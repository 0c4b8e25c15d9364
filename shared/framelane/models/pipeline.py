"""Step Functions and broker payloads: execution input, step results, callbacks, render messages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from framelane.models.common import JobStatus, TaskType, Timestamp


class TaskExecutionInput(BaseModel):
    """What the task state machine starts with: ids only, never media (256 KB limit)."""

    task_id: str
    workspace_id: str
    task_type: TaskType
    source_url: str
    poll: bool = Field(default=False, description="Set by the PollTranscript step: check, do not submit.")


class StepError(BaseModel):
    """A Step Functions error as Catch puts it in the state (`{"Error", "Cause"}`)."""

    model_config = ConfigDict(populate_by_name=True)

    error: str = Field(alias="Error")
    cause: str | None = Field(default=None, alias="Cause")


class FinalizeInput(BaseModel):
    """What Finalize gets: the execution input plus, on the failure path, the caught error."""

    model_config = ConfigDict(extra="ignore")

    task_id: str
    workspace_id: str
    task_type: TaskType
    error: StepError | None = None


class StepOutcome(BaseModel):
    """What a code step returns to the state machine (kept small: ids and keys only)."""

    task_id: str
    status: JobStatus


class CallbackMessage(BaseModel):
    """The SQS message a `sqs:sendMessage.waitForTaskToken` step sends: resume the execution with the token."""

    task_token: str
    payload: dict[str, Any]


class RenderMessage(BaseModel):
    """A renderer job on the Redis stream."""

    task_id: str
    workspace_id: str
    task_type: TaskType
    task_token: str


class RenderDispatch(BaseModel):
    """A render handed to the broker and not yet answered (DynamoDB): what the render queue keeper heartbeats,
    and what it adds to the stream again when Redis lost the entry."""

    task_id: str
    workspace_id: str
    task_type: TaskType
    task_token: str
    dispatched_at: Timestamp
    entry_id: str | None = Field(default=None, description="The stream entry; None until one was added.")

    def message(self) -> RenderMessage:
        return RenderMessage(
            task_id=self.task_id,
            workspace_id=self.workspace_id,
            task_type=self.task_type,
            task_token=self.task_token,
        )
