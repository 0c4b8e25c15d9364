"""Public HTTP bodies: task requests, the task as the API shows it, workspaces, uploads, errors, health.

Field names, enums, ranges, defaults and examples follow the original API docs (the seeds).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from framelane.models.common import (
    EchoedMetadata,
    Metadata,
    ProgressStage,
    SourceUrl,
    TaskErrorCode,
    TaskStatus,
    TaskType,
    Timestamp,
    UniqueItems,
    WebhookUrl,
)
from framelane.models.credentials import ContentCredentials
from framelane.models.transcripts import TranscriptAnalysis


class TaskRequestBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_url: SourceUrl
    metadata: Metadata = Field(default_factory=dict)
    webhook_url: WebhookUrl | None = None

    def options(self) -> dict[str, Any]:
        """The task-specific options, i.e. everything but the common fields."""
        return self.model_dump(mode="json", exclude={"source_url", "metadata", "webhook_url"})


class LabelPosition(StrEnum):
    top_left = "top_left"
    top_right = "top_right"
    bottom_left = "bottom_left"
    bottom_right = "bottom_right"


class RendererRequestBase(TaskRequestBase):
    label: LabelPosition | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description='Burn a small, legible "AI-edited" mark into every frame at this corner (for deployers who '
        "must disclose deep fakes). Omitted: no visible mark; the output still carries Content Credentials.",
        examples=["bottom_right"],
    )


class OutputFormat(StrEnum):
    webm = "webm"
    mov = "mov"
    png = "png"


class RemoveBackgroundRequest(RendererRequestBase):
    output_format: OutputFormat = Field(
        default=OutputFormat.webm,
        description="`webm` = VP9 with alpha; `mov` = ProRes 4444 with alpha; `png` = zip of RGBA PNG frames.",
    )


class GazeRedirectRequest(RendererRequestBase):
    intensity: float = Field(
        default=1,
        ge=0,
        le=1,
        strict=True,  # a number, never `false` read as 0.0 or a numeric string
        description="Redirect strength: 0 = no change, 1 = full centre-screen gaze.",
        examples=[0.8],
    )


class SuperResolutionMode(StrEnum):
    auto = "auto"
    learned = "learned"
    fast = "fast"


class SuperResolutionRequest(RendererRequestBase):
    scale: float = Field(
        default=2, ge=1, le=4, strict=True, description="Upscaling factor, 1..4.", examples=[2]
    )
    mode: SuperResolutionMode = Field(
        default=SuperResolutionMode.auto,
        description="`learned` (SPAN, a learned upscaler: sharper and closer to the truth; on a GPU worker about "
        "real time, on a CPU-only worker about 0.2 frames/s at 360p→720p, i.e. minutes per second of video), "
        "`fast` (Lanczos + sharpening, real time everywhere), or `auto` (the default): `learned` when the worker "
        "has a GPU, else `fast`. The job's `options.mode` keeps what was asked for; the worker logs what ran.",
    )


class TranscribeRequest(TaskRequestBase):
    language_code: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2,3}(_[a-z]{2})?$",
        description="Spoken language (e.g. `en`, `en_us`); detected automatically when omitted.",
        examples=["en"],
    )
    speaker_labels: bool = Field(default=False, strict=True, description="Label utterances by speaker.")
    analysis: Annotated[list[TranscriptAnalysis], UniqueItems] = Field(
        default_factory=list,
        max_length=4,
        description="Optional analyses to run on the transcript.",
        json_schema_extra={"uniqueItems": True},
    )


REQUEST_MODEL_BY_TYPE: dict[TaskType, type[TaskRequestBase]] = {
    TaskType.remove_background: RemoveBackgroundRequest,
    TaskType.gaze_redirect: GazeRedirectRequest,
    TaskType.super_resolution: SuperResolutionRequest,
    TaskType.transcribe: TranscribeRequest,
}


class JobOutput(BaseModel):
    """The API contract's name for a completed task's output: where the artifact is, and what it is."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "Populated once status == completed. Contains the signed artifact URL."
        }
    )

    url: str = Field(
        description="Signed, expiring link to the artifact.",
        examples=["https://cdn-user.framelane.io/render_01J.../output.mp4"],
    )
    width: int | None = Field(
        default=None,
        description="Output frame width: the upright source's (× `scale` for super resolution); MP4 "
        "outputs (4:2:0) round each side to the nearest even number, ties down (321 → 320); WebM, MOV and "
        "PNG keep it exact.",
        examples=[1920],
    )
    height: int | None = Field(default=None, description="Output frame height (same rule).", examples=[1080])
    duration: float | None = Field(default=None, description="Seconds.", examples=[15.3])
    size_bytes: int | None = Field(default=None, examples=[12582912])
    content_credentials: ContentCredentials | None = Field(
        default=None,
        description="Where the output's C2PA Content Credentials are; null when the operator disabled marking "
        "(or for transcripts). Details: `GET /v1/tasks/{id}/credentials`.",
    )


class JobError(BaseModel):
    """The API contract's name for a failed task's error: a `TaskErrorCode` and a message."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "Populated when status == failed. Contains a structured error code."
        }
    )

    code: TaskErrorCode = Field(examples=["invalid_source"])
    message: str = Field(examples=["Source URL returned 404."])


class JobOut(BaseModel):
    """The API contract's name for a task as the API shows it (`records.Task` is the task as stored)."""

    model_config = ConfigDict(json_schema_extra={"description": "A render job or AI task."})

    id: str = Field(
        description="Unique job ID; its prefix tells the kind (`task_` or `render_`). This API creates `task_` "
        "jobs only today; `render_` is reserved by the contract for render jobs.",
        examples=["task_01J8QR2K5VKDGN2T4FBM3CZYX7"],
    )
    kind: Literal["render", "task"] = Field(
        default="task",
        description="`task` for every job this API creates today (all four task types); `render` is reserved "
        "by the contract for render jobs.",
        examples=["task"],
    )
    workspace_id: str = Field(
        description="ID of the workspace that owns this job.", examples=["ws_01J8QR2K5VKDGN2T4FBM3CZYX8"]
    )
    status: TaskStatus = Field(
        description="Current lifecycle state: queued → processing → completed / failed / cancelled.",
        examples=["queued"],
    )
    created_at: Timestamp = Field(description="ISO-8601 UTC timestamp when the job was created.")
    updated_at: Timestamp = Field(description="ISO-8601 UTC timestamp of the last status change.")
    task_type: TaskType | None = Field(
        default=None,
        description="For task jobs only — the specific AI operation.",
        examples=["gaze_redirect"],
    )
    progress_percent: int = Field(
        default=0, ge=0, le=100, description="0–100 progress indicator updated by the render engine."
    )
    progress_stage: ProgressStage | None = Field(
        default=None, description="Current processing phase within a job.", examples=["compositing"]
    )
    estimated_seconds_remaining: int | None = Field(
        default=None,
        ge=0,
        description="Estimated seconds until the job completes, from the rate the engine is measured to "
        "run at on this task (frames per second; for transcription, audio duration × the engine's measured "
        "real-time factor). Null until measured, and once the job is terminal.",
        examples=[42],
    )
    output: JobOutput | None = None
    error: JobError | None = None
    metadata: EchoedMetadata = Field(
        default_factory=dict,
        description="Caller-supplied key-value pairs echoed back on every webhook and response.",
        examples=[{"project_id": "proj_123", "user_ref": "usr_abc"}],
    )
    completed_at: Timestamp | None = Field(
        default=None, description="ISO-8601 UTC timestamp when the job reached a terminal state."
    )
    source_url: str | None = Field(default=None, description="The source the task was created from.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="The task-specific options, with defaults filled in."
    )


class TaskPage(BaseModel):
    data: list[JobOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to fetch the next page.")
    has_more: bool = False


class WorkspaceCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)


class ApiKeyRevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(min_length=8, max_length=256)


class WorkspaceCreated(BaseModel):
    workspace_id: str
    api_key: str = Field(description="Shown once; only its hash is stored.")


class WorkspaceLimits(BaseModel):
    """An operator's per-workspace overrides of the defaults in settings; a field left null keeps the default."""

    model_config = ConfigDict(extra="forbid")

    create_per_minute: int | None = Field(
        default=None, ge=0, description="Task creations per minute; 0: none."
    )
    create_burst: int | None = Field(default=None, ge=1, le=100_000, description="Creations at once.")
    requests_per_minute: int | None = Field(default=None, ge=0, description="Other requests per minute.")
    requests_burst: int | None = Field(default=None, ge=1, le=100_000, description="Other requests at once.")
    concurrency: int | None = Field(
        default=None, ge=1, le=10_000, description="Renders and transcriptions running at once."
    )


class RateLimitOut(BaseModel):
    per_minute: int = Field(description="Tokens added per minute; 0: unlimited.")
    burst: int = Field(description="The bucket's size: requests that may come at once.")


class EffectiveLimits(BaseModel):
    """The limits a workspace runs under: its overrides over the deployment's defaults."""

    task_creation: RateLimitOut
    requests: RateLimitOut
    concurrency: int = Field(description="Renders and transcriptions of this workspace running at once.")


class WorkspaceUsage(BaseModel):
    running: int = Field(description="Renders holding a concurrency slot now.")
    queued: int = Field(description="Renders waiting for a slot or a worker (their tasks say `queued`).")


class WorkspaceOut(BaseModel):
    id: str
    name: str
    created_at: Timestamp
    limits: EffectiveLimits
    usage: WorkspaceUsage


class Deleted(BaseModel):
    id: str
    deleted: bool = True


class SigningSecret(BaseModel):
    secret: str = Field(description="The workspace's default signing secret (`whsec_…`).")


class UploadCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: str | None = Field(
        default=None,
        max_length=255,
        pattern=r"^[\w.+-]+/[\w.+-]+$",
        description="Content-Type the PUT will send; the presigned URL is bound to it.",
        examples=["video/mp4"],
    )
    task_type: TaskType | None = Field(
        default=None,
        description="Start this task as soon as the upload lands (S3 trigger); without it, the upload is a "
        "source for a later task call.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description='Task options (e.g. `{"intensity": 0.8}`), with `task_type`.'
    )
    metadata: Metadata = Field(default_factory=dict)
    webhook_url: WebhookUrl | None = None


class UploadOut(BaseModel):
    upload_url: str = Field(description="Presigned S3 PUT URL.")
    source_url: str = Field(description="`s3://` URL to pass as `source_url` to any task endpoint.")
    expires_at: Timestamp
    headers: dict[str, str] = Field(
        default_factory=dict, description="Headers the PUT must send exactly as given (they are signed)."
    )


class SourceLink(BaseModel):
    """A signed, expiring link to the task's ingested source (the "before" of a before/after view)."""

    url: str
    expires_at: Timestamp


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(default_factory=list)
    msg: str
    type: str


class ErrorBody(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, str]
