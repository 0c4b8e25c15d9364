"""The one set of pydantic models: API bodies, DynamoDB items, pipeline payloads and webhook payloads.

Field names, enums, ranges, defaults and examples follow the original API docs (the seeds).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

MAX_URL_LENGTH = 2083
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_timestamp(value: datetime) -> str:
    """ISO-8601 UTC with a `Z` suffix and millisecond precision."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    Field(json_schema_extra={"format": "date-time"}),
]


def _check_url(value: str, schemes: frozenset[str]) -> str:
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in schemes:
        raise ValueError(f"URL scheme must be one of {', '.join(sorted(schemes))}")
    if not parts.hostname:
        raise ValueError("URL has no host")
    if port == 0:
        raise ValueError("URL port must be 1..65535")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in value):
        raise ValueError("URL contains whitespace or control characters")
    return value


def _check_source_url(value: str) -> str:
    return _check_url(value, frozenset({"http", "https", "s3"}))


def _check_http_url(value: str) -> str:
    return _check_url(value, frozenset({"http", "https"}))


SourceUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description=(
            "Publicly accessible URL of the source video (http or https), or the `s3://` source_url returned by "
            "`POST /v1/uploads`."
        ),
        examples=["https://cdn.example.com/presenter.mp4"],
        json_schema_extra={"format": "uri"},
    ),
    AfterValidator(_check_source_url),
]

WebhookUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description=(
            "Per-request webhook URL. Overrides workspace-level webhooks for this job only. Receives "
            "task.completed, task.failed, and progress events."
        ),
        examples=["https://app.example.com/hooks/framelane"],
        json_schema_extra={"format": "uri"},
    ),
    AfterValidator(_check_http_url),
]

MetadataValue = str | int | float | bool | None


def _check_metadata(value: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"metadata has at most {MAX_METADATA_KEYS} keys")
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_METADATA_KEY_LENGTH:
            raise ValueError(f"metadata keys are 1..{MAX_METADATA_KEY_LENGTH} characters")
        if isinstance(item, str) and len(item) > MAX_METADATA_VALUE_LENGTH:
            raise ValueError(f"metadata string values are at most {MAX_METADATA_VALUE_LENGTH} characters")
        if isinstance(item, int | float) and not isinstance(item, bool) and not _storable_number(item):
            raise ValueError(
                "metadata numbers must be finite, under 1e38 for integers and 1e-130..1e125 in size"
            )
    return value


def _storable_number(number: float) -> bool:
    """DynamoDB numbers: 38 significant digits, magnitude 1e-130 .. 1e125."""
    if isinstance(number, int):
        return abs(number) < 10**38
    return math.isfinite(number) and (number == 0 or 1e-130 <= abs(number) < 1e125)


Metadata = Annotated[
    dict[str, MetadataValue],
    Field(
        title="Metadata",
        description="Arbitrary key-value pairs echoed back in all webhook payloads.",
        examples=[{"project_id": "proj_123"}],
    ),
    AfterValidator(_check_metadata),
]


class TaskType(StrEnum):
    """The 4 task types exposed by the public API."""

    remove_background = "remove_background"
    gaze_redirect = "gaze_redirect"
    super_resolution = "super_resolution"
    transcribe = "transcribe"

    @property
    def is_renderer(self) -> bool:
        return self is not TaskType.transcribe


class JobStatus(StrEnum):
    ingesting = "ingesting"
    queued = "queued"
    processing = "processing"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in {JobStatus.completed, JobStatus.failed, JobStatus.cancelled}


class ProgressStage(StrEnum):
    downloading = "downloading"
    compositing = "compositing"
    encoding = "encoding"
    uploading = "uploading"


class JobErrorCode(StrEnum):
    invalid_source = "invalid_source"
    source_too_large = "source_too_large"
    source_too_long = "source_too_long"
    unsupported_media = "unsupported_media"
    no_face_detected = "no_face_detected"
    no_speech_detected = "no_speech_detected"
    transcription_failed = "transcription_failed"
    worker_lost = "worker_lost"
    queue_timeout = "queue_timeout"
    internal_error = "internal_error"


class OutputFormat(StrEnum):
    webm = "webm"
    mov = "mov"
    png = "png"


class TranscriptAnalysis(StrEnum):
    summarization = "summarization"
    sentiment = "sentiment"
    chapters = "chapters"
    entities = "entities"


# --- request bodies -------------------------------------------------------------------------------------


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
        description="Redirect strength: 0 = no change, 1 = full centre-screen gaze.",
        examples=[0.8],
    )


class SuperResolutionMode(StrEnum):
    auto = "auto"
    learned = "learned"
    fast = "fast"


class SuperResolutionRequest(RendererRequestBase):
    scale: float = Field(default=2, ge=1, le=4, description="Upscaling factor, 1..4.", examples=[2])
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
    speaker_labels: bool = Field(default=False, description="Label utterances by speaker.")
    analysis: list[TranscriptAnalysis] = Field(
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


# --- jobs -----------------------------------------------------------------------------------------------


class ContentCredentials(BaseModel):
    """Where a rendered output's signed C2PA manifest lives."""

    format: Literal["embedded", "sidecar"] = Field(
        description="`embedded`: inside the file (MP4, MOV, each PNG frame); `sidecar`: a `.c2pa` manifest "
        "next to it, bound to its hash (WebM)."
    )
    sidecar_url: str | None = Field(
        default=None, description="Signed, expiring link to the `.c2pa` sidecar (format `sidecar` only)."
    )


class JobOutput(BaseModel):
    """Populated once status == completed. Contains the signed artifact URL."""

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


class CredentialsSigner(BaseModel):
    common_name: str | None = None
    organization: str | None = Field(default=None, description="The certificate issuer's organisation.")
    alg: str | None = Field(default=None, examples=["Es256"])
    time: str | None = Field(default=None, description="Signing time from a time-stamp authority, if any.")


class CredentialsAction(BaseModel):
    action: str = Field(examples=["c2pa.edited"])
    digital_source_type: str | None = Field(
        default=None,
        examples=["http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"],
    )
    software_agent: str | None = Field(default=None, examples=["Framelane 0.1.0"])
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class CredentialsIngredient(BaseModel):
    title: str | None = None
    format: str | None = None
    relationship: str | None = Field(default=None, examples=["parentOf"])
    sha256: str | None = Field(default=None, description="Hex sha256 of the ingredient's bytes (the source).")
    has_credentials: bool = Field(
        default=False, description="The ingredient carried its own Content Credentials, kept in the chain."
    )


class ContentCredentialsReport(BaseModel):
    """A rendered output's Content Credentials as validated by the worker right after signing."""

    state: str = Field(
        description="C2PA validation state: `Valid` (intact and signed; `Trusted` when the signer chains to "
        "a configured trust anchor) or `Invalid`.",
        examples=["Valid"],
    )
    format: Literal["embedded", "sidecar"]
    sidecar_url: str | None = None
    signer: CredentialsSigner | None = None
    claim_generator: str | None = Field(default=None, examples=["Framelane 0.1.0"])
    actions: list[CredentialsAction] = Field(default_factory=list)
    ingredients: list[CredentialsIngredient] = Field(default_factory=list)
    validation_codes: list[str] = Field(
        default_factory=list,
        description="Validation status codes that are not successes (e.g. `signingCredential.untrusted`).",
    )


class JobError(BaseModel):
    """Populated when status == failed. Contains a structured error code."""

    code: JobErrorCode = Field(examples=["invalid_source"])
    message: str = Field(examples=["Source URL returned 404."])


class JobOut(BaseModel):
    """A render job or AI task."""

    id: str = Field(
        description="Unique job ID. Prefix indicates type: render_ or task_.",
        examples=["task_01J8QR2K5VKDGN2T4FBM3CZYX7"],
    )
    kind: Literal["render", "task"] = Field(
        default="task", description="Whether this is a render or a task.", examples=["task"]
    )
    workspace_id: str = Field(
        description="ID of the workspace that owns this job.", examples=["ws_01J8QR2K5VKDGN2T4FBM3CZYX8"]
    )
    status: JobStatus = Field(
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
    metadata: Metadata = Field(
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


class AssemblyAiCallback(BaseModel):
    """What AssemblyAI POSTs to the webhook URL when a transcript is done."""

    transcript_id: str
    status: str


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


class JobPage(BaseModel):
    data: list[JobOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to fetch the next page.")
    has_more: bool = False


# --- workspaces, keys, webhooks, uploads ---------------------------------------------------------------


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


class WorkspaceCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)


class ApiKeyRevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(min_length=8, max_length=256)


class WorkspaceCreated(BaseModel):
    workspace_id: str
    api_key: str = Field(description="Shown once; only its hash is stored.")


class WebhookEvent(StrEnum):
    task_completed = "task.completed"
    task_failed = "task.failed"
    task_progress = "task.progress"


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        str,
        Field(min_length=1, max_length=MAX_URL_LENGTH, json_schema_extra={"format": "uri"}),
        AfterValidator(_check_http_url),
    ]
    events: list[WebhookEvent] = Field(
        default_factory=lambda: [WebhookEvent.task_completed, WebhookEvent.task_failed],
        min_length=1,
        max_length=3,
        description="Events this endpoint receives.",
        json_schema_extra={"uniqueItems": True},
    )


class WebhookEndpointOut(BaseModel):
    id: str = Field(examples=["wh_01J8QR2K5VKDGN2T4FBM3CZYX9"])
    url: str
    events: list[WebhookEvent]
    created_at: Timestamp
    disabled: bool = Field(default=False, description="True once the endpoint answered 410 Gone.")


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(description="Signing secret (`whsec_…`); shown once.")


class WebhookEndpoint(WebhookEndpointCreated):
    """A webhook endpoint as stored."""

    workspace_id: str


class WebhookEndpointList(BaseModel):
    data: list[WebhookEndpointOut]


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


class WebhookPayload(BaseModel):
    """The body of every webhook delivery."""

    type: WebhookEvent
    id: str = Field(description="Event id (`evt_…`); also the `webhook-id` header, stable across retries.")
    created_at: Timestamp
    data: JobOut


class NotifyMessage(BaseModel):
    """Ask the notifier to deliver one event for a task to every subscribed destination."""

    task_id: str
    workspace_id: str
    event: WebhookEvent


class WebhookDeliveryInput(BaseModel):
    """Input of one webhook delivery execution (one destination, one event)."""

    workspace_id: str
    endpoint_id: str | None = Field(default=None, description="None for a per-request webhook_url.")
    url: str
    event_id: str
    body: str = Field(description="The exact JSON body that is signed and sent on every attempt.")
    attempt: int = 1


class WebhookAttempt(BaseModel):
    """One recorded delivery attempt."""

    workspace_id: str
    event_id: str
    endpoint_id: str | None
    url: str
    attempt: int
    status_code: int | None
    error: str | None
    delivered: bool
    attempted_at: Timestamp


class WebhookAttemptOut(BaseModel):
    """One delivery attempt to an endpoint, as the API shows it."""

    event_id: str
    attempt: int = Field(description="1 for the first try, then 2, 3, … for the retries.")
    url: str
    status_code: int | None = Field(description="The endpoint's HTTP status; null when no answer came.")
    error: str | None
    delivered: bool
    attempted_at: Timestamp
    next_retry_at: Timestamp | None = Field(
        default=None, description="When the retry after this failed attempt is (or was) due; null if none."
    )


class WebhookAttemptPage(BaseModel):
    data: list[WebhookAttemptOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to fetch the next page.")
    has_more: bool = False


class SourceLink(BaseModel):
    """A signed, expiring link to the task's ingested source (the "before" of a before/after view)."""

    url: str
    expires_at: Timestamp


class WebhookDeliveryResult(BaseModel):
    """What a delivery step returns: delivered, gave up, or when to try again."""

    delivered: bool
    retry_in_seconds: int | None = None
    attempt: int


# --- transcripts ------------------------------------------------------------------------------------------


class TranscriptWord(BaseModel):
    text: str
    start: float = Field(description="Seconds from the start of the audio.")
    end: float
    confidence: float = Field(ge=0, le=1)
    speaker: str | None = None


class TranscriptUtterance(BaseModel):
    speaker: str
    text: str
    start: float
    end: float
    confidence: float = Field(ge=0, le=1)


class TranscriptGenerator(BaseModel):
    """What made a transcript: it names its generator (engine, model, version), like Content Credentials do."""

    engine: str = Field(examples=["faster-whisper"])
    model: str = Field(examples=["whisper-base int8"])
    version: str = Field(description="Version of the engine software.", examples=["1.1.1"])
    weights_sha256: str | None = Field(default=None, description="sha256 of the model weights, when local.")
    software_agent: str = Field(description="Framelane and its version.", examples=["Framelane 0.1.0"])


class Transcript(BaseModel):
    """The transcript a transcribe task stores in S3 (`output.url`)."""

    task_id: str
    engine: Literal["assemblyai", "faster-whisper"]
    generator: TranscriptGenerator | None = None
    language_code: str | None = None
    language_confidence: float | None = None
    audio_duration: float = Field(ge=0, description="Seconds of audio.")
    text: str
    words: list[TranscriptWord] = Field(default_factory=list)
    utterances: list[TranscriptUtterance] = Field(default_factory=list)
    analysis: dict[str, Any] = Field(default_factory=dict, description="Results of the requested analyses.")
    unavailable: dict[str, str] = Field(
        default_factory=dict,
        description="Requested options this engine could not honour, with the reason (never silently dropped).",
    )


class TranscriptFormat(StrEnum):
    json = "json"
    text = "text"
    srt = "srt"
    vtt = "vtt"
