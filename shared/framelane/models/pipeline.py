"""Step Functions and broker payloads: execution input, step results, callbacks, render messages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from framelane.models.common import TaskStatus, TaskType, Timestamp


class TaskExecutionInput(BaseModel):
    """What the task state machine starts with: ids only, never media (256 KB limit)."""

    task_id: str
    workspace_id: str
    task_type: TaskType
    source_url: str
    poll: bool = Field(default=False, description="Set by the PollTranscript step: check, do not submit.")


class RenderStepInput(TaskExecutionInput):
    """What a Render, RenderSegment or Stitch step hands the dispatcher."""

    segment: int | None = Field(default=None, ge=0, description="The segment to render (RenderSegment).")
    stitch: bool = Field(default=False, description="Join the rendered segments (Stitch).")


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


class IngestOutcome(BaseModel):
    """Ingest's answer: the Route step sends a segmented task to the RenderSegments map."""

    task_id: str
    status: TaskStatus
    segmented: bool = False
    segments: list[int] = Field(default_factory=list, description="Segment indices, one Map iteration each.")


class StepOutcome(BaseModel):
    """What a code step returns to the state machine (kept small: ids and keys only)."""

    task_id: str
    status: TaskStatus


class CallbackMessage(BaseModel):
    """The SQS message a `sqs:sendMessage.waitForTaskToken` step sends: resume the execution with the token."""

    task_token: str
    payload: dict[str, Any]


class RenderMessage(BaseModel):
    """A unit of renderer work on the Redis stream: a whole task, one segment of it, or the stitch of its
    segments. Each unit has its own token, delivery count, lease and dispatch record (`unit_id`)."""

    task_id: str
    workspace_id: str
    task_type: TaskType
    task_token: str
    segment: int | None = Field(default=None, ge=0)
    stitch: bool = False

    @property
    def unit_id(self) -> str:
        return unit_id(self.task_id, self.segment, self.stitch)

    @classmethod
    def for_unit(cls, unit: RenderStepInput | RenderDispatch, task_token: str) -> RenderMessage:
        """The stream message for a render unit, from the step that dispatches it or from its dispatch record."""
        return cls(
            task_id=unit.task_id,
            workspace_id=unit.workspace_id,
            task_type=unit.task_type,
            task_token=task_token,
            segment=unit.segment,
            stitch=unit.stitch,
        )


def unit_id(task_id: str, segment: int | None, stitch: bool) -> str:
    """The task id for a whole render; `task#s3` for segment 3, `task#stitch` for the stitch."""
    if stitch:
        return f"{task_id}#stitch"
    return task_id if segment is None else f"{task_id}#s{segment}"


class RenderDispatch(BaseModel):
    """A render handed to the broker and not yet answered (DynamoDB): what the render queue keeper heartbeats,
    and what it adds to the stream again when Redis lost the entry."""

    task_id: str
    workspace_id: str
    task_type: TaskType
    task_token: str
    dispatched_at: Timestamp
    entry_id: str | None = Field(default=None, description="The stream entry; None until one was added.")
    segment: int | None = Field(default=None, ge=0)
    stitch: bool = False

    @property
    def unit_id(self) -> str:
        return unit_id(self.task_id, self.segment, self.stitch)

    def message(self) -> RenderMessage:
        return RenderMessage.for_unit(self, self.task_token)
