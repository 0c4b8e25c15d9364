"""Models survive the trip into DynamoDB attribute values and back."""

from datetime import UTC, datetime
from typing import Any

import pytest

from framelane.adapters.dynamodb import _from_item, _to_attr_values
from framelane.models import Task, TaskStatus, TaskType


@pytest.mark.parametrize("value", [-1.2463059e124, 9.99e124, 1e-129, 3, 10**37, 2.5, 0.0, True, None, "x"])
def test_metadata_round_trip(value: object) -> None:
    """Found by the OpenAPI fuzz run: a large integral float came back as an int over 1e38 and failed to load."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    task = Task(
        id="task_1",
        workspace_id="ws_1",
        status=TaskStatus.queued,
        created_at=now,
        updated_at=now,
        task_type=TaskType.gaze_redirect,
        metadata={"v": value},
    )
    item = _to_attr_values(task.model_dump(mode="json"))
    loaded = Task.model_validate(_from_item(item))
    assert loaded.metadata["v"] == value
    assert loaded == task


def test_tiny_option_values_are_stored_as_zero() -> None:
    """Found by the OpenAPI fuzz run: intensity=5.19e-173 is valid (0..1) but below DynamoDB's 1e-130 floor."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    task = Task(
        id="task_1",
        workspace_id="ws_1",
        status=TaskStatus.queued,
        created_at=now,
        updated_at=now,
        task_type=TaskType.gaze_redirect,
        options={"intensity": 5.18922500153969e-173},
    )
    loaded = Task.model_validate(_from_item(_to_attr_values(task.model_dump(mode="json"))))
    assert loaded.options == {"intensity": 0}


WIRE_VALUES = [
    {"S": "text"},
    {"S": ""},
    {"N": "0"},
    {"N": "7"},
    {"N": "-7"},
    {"N": "1.50"},
    {"N": "1e3"},
    {"N": "-0"},
    {"N": "00012"},
    {"N": "123456789012345678"},
    {"N": "1234567890123456789"},
    {"N": str(10**38 - 1)},
    {"N": "1E-129"},
    {"BOOL": True},
    {"BOOL": False},
    {"NULL": True},
    {"B": b"hello"},
    {"SS": ["a", "b"]},
    {"NS": ["1", "2.5"]},
    {"L": [{"S": "a"}, {"N": "2"}, {"N": "2.25"}, {"NULL": True}]},
    {"M": {"inner": {"M": {"n": {"N": "3"}, "l": {"L": [{"BOOL": False}]}}}, "s": {"S": "x"}}},
]


@pytest.mark.parametrize("value", WIRE_VALUES, ids=lambda value: repr(value)[:40])
def test_reading_an_attribute_value_matches_boto3s_deserializer(value: dict[str, Any]) -> None:
    """The reading path skips boto3's Decimal round trip for strings, whole numbers, maps and lists: what it
    answers must be what the deserializer then `_plain` would (the value and its Python type)."""
    from framelane.adapters import dynamodb

    expected = dynamodb._plain(dynamodb._deserializer.deserialize(value))
    read = _from_item({"v": value})["v"]
    assert read == expected
    assert repr(read) == repr(expected)
