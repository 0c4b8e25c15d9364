"""Domain errors speak no HTTP: api/errors.py chooses the status of each, and every one has a status."""

from __future__ import annotations

import inspect

import pytest

from framelane import errors
from framelane.api.errors import DOMAIN_STATUS, domain_status
from framelane.errors import FramelaneError, NotFound, StepSignal, TaskFailure, TranscriptNotReady
from framelane.models import TaskErrorCode

DOMAIN_ERRORS = [
    cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, FramelaneError)
]


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda cls: cls.__name__)
def test_every_domain_error_has_its_own_status_and_none_of_its_own_http(cls: type[FramelaneError]) -> None:
    assert cls in DOMAIN_STATUS
    assert not any("status" in name for name in vars(cls))


def test_a_subclass_takes_its_bases_status() -> None:
    class StillMissing(NotFound):
        code = "still_missing"

    assert domain_status(StillMissing("gone")) == 404
    assert domain_status(TranscriptNotReady("later")) == 409


def test_task_failures_are_typed() -> None:
    failure = TaskFailure(TaskErrorCode.no_face_detected, "no face")
    assert failure.error == "no_face_detected"
    assert not issubclass(TaskFailure, StepSignal) and not issubclass(StepSignal, TaskFailure)
