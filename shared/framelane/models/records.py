"""Items as stored in DynamoDB: jobs (the public fields plus what only the pipeline needs), workspaces, API keys."""

from __future__ import annotations

from pydantic import BaseModel, Field

from framelane.models.api import JobOut
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


class Job(JobOut):
    """A job as stored: the public fields plus what only the pipeline needs."""

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

    def to_out(self) -> JobOut:
        return JobOut.model_validate(self.model_dump(include=set(JobOut.model_fields)))


class Workspace(BaseModel):
    id: str
    name: str
    created_at: Timestamp
    signing_secret: str = Field(description="Default secret that signs per-request webhook deliveries.")


class ApiKeyRecord(BaseModel):
    """An API key as stored: only its hash, never the key."""

    key_hash: str
    workspace_id: str
    prefix: str
    created_at: Timestamp
