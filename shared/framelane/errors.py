"""Domain exceptions, in three kinds that are handled apart:

- `FramelaneError`: a request the API refuses; `code` is the stable error code, and the HTTP status for each
  class is chosen in api/errors.py (the domain does not speak HTTP);
- `TaskFailure`: a task failed for a reason its caller should see, typed by `TaskErrorCode`;
- `StepSignal`: a pipeline step ends early without the task failing (it was cancelled, or a transcript is
  still pending); the state machine routes on the signal's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from framelane.models import TaskErrorCode

if TYPE_CHECKING:
    from framelane.adapters.redis_limits import BucketState


class FramelaneError(Exception):
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(FramelaneError):
    code = "unauthorized"


class NotFound(FramelaneError):
    code = "not_found"


class InvalidCursor(FramelaneError):
    code = "invalid_cursor"


class InvalidRequest(FramelaneError):
    """Well-formed input that breaks a rule only the service can check (e.g. another tenant's s3:// URL)."""

    code = "validation_error"


class IdempotencyKeyReused(FramelaneError):
    code = "idempotency_key_reused"


class IdempotencyInProgress(FramelaneError):
    code = "idempotency_in_progress"


class TaskNotCancellable(FramelaneError):
    code = "task_not_cancellable"


class SourceNotReady(FramelaneError):
    code = "source_not_ready"


class TranscriptNotReady(FramelaneError):
    code = "transcript_not_ready"


class RateLimited(FramelaneError):
    """The workspace used up its request bucket; `bucket` says when a token is back (Retry-After)."""

    code = "rate_limited"

    def __init__(self, message: str, bucket: BucketState) -> None:
        super().__init__(message)
        self.bucket = bucket


class ServiceUnavailable(FramelaneError):
    code = "service_unavailable"


class TaskFailure(Exception):
    """A task failed for a reason the caller should see: becomes the task's `error {code, message}`."""

    def __init__(self, code: TaskErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def error(self) -> str:
        """The error name the failed step reports to Step Functions."""
        return self.code.value


class StepSignal(Exception):
    """Ends a step without failing its task. `name` is the error the step reports to Step Functions."""

    name: ClassVar[str]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def error(self) -> str:
        return self.name


class TaskCancelled(StepSignal):
    """The task was cancelled under the step: Finalize records no failure and sends no webhook."""

    name = "cancelled"


class TranscriptionPending(StepSignal):
    """The transcript is not ready yet: the PollTranscript state retries on this name."""

    name = "transcription_pending"


class WorkspaceBusy(StepSignal):
    """Every concurrency slot of the task's workspace is taken: the Transcribe state retries after a pause."""

    name = "workspace_busy"
