"""Domain exceptions. Each carries the HTTP status and the stable error code the API returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framelane.adapters.redis_limits import BucketState


class FramelaneError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(FramelaneError):
    status_code = 401
    code = "unauthorized"


class NotFound(FramelaneError):
    status_code = 404
    code = "not_found"


class InvalidCursor(FramelaneError):
    status_code = 400
    code = "invalid_cursor"


class InvalidRequest(FramelaneError):
    """Well-formed input that breaks a rule only the service can check (e.g. another tenant's s3:// URL)."""

    status_code = 422
    code = "validation_error"


class IdempotencyKeyReused(FramelaneError):
    status_code = 422
    code = "idempotency_key_reused"


class IdempotencyInProgress(FramelaneError):
    status_code = 409
    code = "idempotency_in_progress"


class TaskNotCancellable(FramelaneError):
    status_code = 409
    code = "task_not_cancellable"


class SourceNotReady(FramelaneError):
    status_code = 409
    code = "source_not_ready"


class RateLimited(FramelaneError):
    """The workspace used up its request bucket; `bucket` says when a token is back (Retry-After)."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, bucket: BucketState) -> None:
        super().__init__(message)
        self.bucket = bucket


class ServiceUnavailable(FramelaneError):
    status_code = 503
    code = "service_unavailable"


class JobFailure(Exception):
    """A task failed for a reason the caller should see: becomes the job's `error {code, message}`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
