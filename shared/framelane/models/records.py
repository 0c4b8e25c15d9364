"""Items as stored in DynamoDB: tasks (the public fields plus what only the pipeline needs), workspaces, API keys."""

from __future__ import annotations

from pydantic import BaseModel, Field

from framelane.models.api import JobOut, WorkspaceLimits
from framelane.models.common import Timestamp


class MediaInfo(BaseModel):
    """What ingest learned about the source by probing it."""

    duration: float = Field(ge=0)
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_video: bool
    has_audio: bool
    size_bytes: int = Field(ge=0)
    container: str | None = None


class Segment(BaseModel):
    """One part of a long source, rendered on its own (see media/segments.py): the frames with
    `start_pts <= pts < end_pts` in the source video's time base, decoded from the keyframe `warmup_pts`."""

    index: int = Field(ge=0)
    start_pts: int | None = Field(default=None, description="None: from the first frame.")
    end_pts: int | None = Field(default=None, description="None: to the last frame.")
    warmup_pts: int | None = Field(default=None, description="The keyframe decoding starts at (warm-up).")
    frames: int = Field(ge=0, description="Frames kept; weighs the segment in the task's progress.")


class Task(JobOut):
    """A task as stored: the public fields plus what only the pipeline needs."""

    webhook_url: str | None = None
    idempotency_key: str | None = None
    source_key: str | None = Field(default=None, description="S3 key of the ingested source.")
    media: MediaInfo | None = None
    output_key: str | None = Field(
        default=None, description="S3 key of the output; output.url is signed per read."
    )
    external_id: str | None = Field(default=None, description="The transcript id at AssemblyAI.")
    callback_secret: str | None = Field(default=None, description="Authenticates AssemblyAI's webhook call.")
    step_token: str | None = Field(default=None, description="The Step Functions token the callback answers.")
    segments: list[Segment] | None = Field(
        default=None, description="Set by ingest for a source long enough to render in segments."
    )

    def to_out(self) -> JobOut:
        return JobOut.model_validate(self.model_dump(include=set(JobOut.model_fields)))


class Workspace(BaseModel):
    id: str
    name: str
    created_at: Timestamp
    signing_secret: str = Field(description="Default secret that signs per-request webhook deliveries.")
    limits: WorkspaceLimits = Field(default_factory=WorkspaceLimits, description="The operator's overrides.")


class ApiKeyRecord(BaseModel):
    """An API key as stored: only its hash, never the key."""

    key_hash: str
    workspace_id: str
    prefix: str
    created_at: Timestamp
