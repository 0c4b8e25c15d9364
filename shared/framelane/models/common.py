"""What every model module shares: limits, timestamps, URL and metadata validators, the core enums."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, PlainSerializer

MAX_URL_LENGTH = 2083
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500

# DynamoDB numbers (defined once: the metadata rule and the DynamoDB adapter both use them): integers keep every
# digit below 10**38 (38 significant digits); a non-zero number is at least 1e-130 in size.
DYNAMODB_MAX_INTEGER = 10**38
DYNAMODB_MIN_MAGNITUDE = 1e-130


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


# What every URL field shares; each type below adds its schemes (checked) and its own description.
_URL_RULES = Field(min_length=1, max_length=MAX_URL_LENGTH, json_schema_extra={"format": "uri"})

HttpUrlStr = Annotated[str, _URL_RULES, AfterValidator(_check_http_url)]

SourceUrl = Annotated[
    str,
    _URL_RULES,
    Field(
        description=(
            "Publicly accessible URL of the source video (http or https), or the `s3://` source_url returned by "
            "`POST /v1/uploads`."
        ),
        examples=["https://cdn.example.com/presenter.mp4"],
    ),
    AfterValidator(_check_source_url),
]

WebhookUrl = Annotated[
    HttpUrlStr,
    Field(
        description=(
            "Per-request webhook URL. Overrides workspace-level webhooks for this job only. Receives "
            "task.completed, task.failed, and progress events."
        ),
        examples=["https://app.example.com/hooks/framelane"],
    ),
]


def _check_unique(items: list[Any]) -> list[Any]:
    """The schema's `uniqueItems` is a promise: a repeated item is refused, never silently kept or dropped."""
    if len(set(items)) != len(items):
        raise ValueError("items must be unique")
    return items


UniqueItems = AfterValidator(_check_unique)

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
            raise ValueError("metadata numbers are under 1e38 in size, and 0 or at least 1e-130 in size")
    return value


def _storable_number(number: float) -> bool:
    """One rule for every number, whether JSON spelt it as an integer or not (so the schema can state it):
    DynamoDB keeps 38 significant digits and nothing non-zero under 1e-130 in size."""
    return math.isfinite(number) and (
        number == 0 or DYNAMODB_MIN_MAGNITUDE <= abs(number) < DYNAMODB_MAX_INTEGER
    )


# The metadata rules as JSON Schema, so that the OpenAPI document states them (checked by the fuzz run).
_METADATA_SCHEMA = {
    "maxProperties": MAX_METADATA_KEYS,
    "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY_LENGTH},
    "additionalProperties": {
        "anyOf": [
            {"type": "string", "maxLength": MAX_METADATA_VALUE_LENGTH},
            {
                "type": "number",
                "anyOf": [
                    {"const": 0},
                    {"minimum": DYNAMODB_MIN_MAGNITUDE, "exclusiveMaximum": DYNAMODB_MAX_INTEGER},
                    {"maximum": -DYNAMODB_MIN_MAGNITUDE, "exclusiveMinimum": -DYNAMODB_MAX_INTEGER},
                ],
            },
            {"type": "boolean"},
            {"type": "null"},
        ]
    },
}

# Metadata as echoed back (tasks, webhooks): what was stored is not checked again, so a rule tightened later (as
# the number range was) never makes a stored task unreadable; the schema still states the rules.
EchoedMetadata = Annotated[
    dict[str, MetadataValue],
    Field(
        title="Metadata",
        description="Arbitrary key-value pairs echoed back in all webhook payloads: at most "
        f"{MAX_METADATA_KEYS} keys of 1..{MAX_METADATA_KEY_LENGTH} characters; values are strings of at most "
        f"{MAX_METADATA_VALUE_LENGTH} characters, numbers, booleans or null.",
        examples=[{"project_id": "proj_123"}],
        json_schema_extra=_METADATA_SCHEMA,
    ),
]

Metadata = Annotated[EchoedMetadata, AfterValidator(_check_metadata)]


class TaskType(StrEnum):
    """The 4 task types exposed by the public API."""

    remove_background = "remove_background"
    gaze_redirect = "gaze_redirect"
    super_resolution = "super_resolution"
    transcribe = "transcribe"

    @property
    def is_renderer(self) -> bool:
        return self is not TaskType.transcribe


class TaskStatus(StrEnum):
    ingesting = "ingesting"
    queued = "queued"
    processing = "processing"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in {TaskStatus.completed, TaskStatus.failed, TaskStatus.cancelled}


class ProgressStage(StrEnum):
    downloading = "downloading"
    compositing = "compositing"
    encoding = "encoding"
    uploading = "uploading"


class TaskErrorCode(StrEnum):
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
