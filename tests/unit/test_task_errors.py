"""Step Functions error names become the public JobError a caller sees on the task and in `task.failed`."""

import pytest

from framelane.api.errors import domain_status
from framelane.errors import NotFound, TaskFailure
from framelane.models import TaskErrorCode
from framelane.services.finalize import task_error


@pytest.mark.parametrize("name", ["States.Timeout", "States.HeartbeatTimeout"])
def test_state_machine_timeouts_mean_the_worker_was_lost(name: str) -> None:
    error = task_error(name, "Task timed out after 900 seconds")
    assert error.code is TaskErrorCode.worker_lost
    assert error.message == "the task stopped reporting progress"


def test_a_public_code_keeps_its_cause() -> None:
    error = task_error("source_too_long", "source is 31.0 s; the limit is 20 s")
    assert (error.code, error.message) == (
        TaskErrorCode.source_too_long,
        "source is 31.0 s; the limit is 20 s",
    )


def test_a_code_without_cause_uses_the_code_as_message() -> None:
    assert task_error("no_face_detected", None).message == "no_face_detected"
    assert task_error("no_face_detected", "").message == "no_face_detected"


def test_a_long_cause_is_cut_to_1000_characters() -> None:
    assert task_error("invalid_source", "x" * 5000).message == "x" * 1000


@pytest.mark.parametrize("name", ["States.TaskFailed", "States.Runtime", "KeyError", "Lambda.Unknown", ""])
def test_unknown_names_are_internal_errors_without_the_cause(name: str) -> None:
    """Internal names and causes (stack traces, ARNs) never reach the caller."""
    error = task_error(name, "Traceback (most recent call last): arn:aws:lambda:secret")
    assert error.code is TaskErrorCode.internal_error
    assert error.message == "the task failed unexpectedly"


def test_exceptions_carry_their_code_and_message() -> None:
    """Logs print str(exc); the API and the task record read .code and .message."""
    failure = TaskFailure(TaskErrorCode.no_face_detected, "no face in any frame")
    assert (failure.code, failure.message, str(failure)) == (
        "no_face_detected",
        "no face in any frame",
        "no_face_detected: no face in any frame",
    )
    missing = NotFound("task task_1 not found")
    assert (missing.code, domain_status(missing), missing.message, str(missing)) == (
        "not_found",
        404,
        "task task_1 not found",
        "task task_1 not found",
    )
