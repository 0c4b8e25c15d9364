"""Stream entries the worker cannot process: told apart from good ones without Redis, and the task they name."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from framelane.adapters.redis_streams import RedisBroker
from framelane.models import RenderDispatch, RenderMessage, TaskType
from framelane.worker.runtime import _named_task

GOOD = RenderMessage(
    task_id="task_1", workspace_id="ws_1", task_type=TaskType.gaze_redirect, task_token="tok"
)


def test_a_good_entry_parses() -> None:
    delivery = RedisBroker._delivery(
        TaskType.gaze_redirect, "ws_1", "1-0", {"message": GOOD.model_dump_json()}, 1
    )
    assert delivery.message == GOOD and delivery.problem is None


def test_bad_json_missing_fields_and_the_wrong_stream_are_problems_not_exceptions() -> None:
    missing = json.dumps({"task_id": "task_1", "task_token": "tok"})
    for task_type, raw in [
        (TaskType.gaze_redirect, "{not json"),
        (TaskType.gaze_redirect, missing),
        (TaskType.super_resolution, GOOD.model_dump_json()),
    ]:
        delivery = RedisBroker._delivery(task_type, "ws_1", "1-0", {"message": raw}, 1)
        assert delivery.message is None and delivery.problem and delivery.raw == raw
    good = GOOD.model_dump_json()
    for workspace_id in ["ws_2", ""]:  # a message on another workspace's stream
        delivery = RedisBroker._delivery(TaskType.gaze_redirect, workspace_id, "1-0", {"message": good}, 1)
        assert delivery.message is None and delivery.problem and "ws_1" in delivery.problem
    assert RedisBroker._delivery(TaskType.gaze_redirect, "ws_1", "1-0", {}, 1).message is None


def test_the_task_a_broken_entry_names() -> None:
    assert _named_task(json.dumps({"task_id": "task_1", "task_token": "tok", "task_type": 3})) == (
        "task_1",
        "tok",
    )
    for raw in ["{not json", "[]", json.dumps({"task_id": "task_1"}), json.dumps({"task_token": ""})]:
        assert _named_task(raw) is None


def test_a_broken_segment_entry_names_its_unit() -> None:
    """Each segment has its own dispatch record, so a poison segment entry answers that record only."""
    broken = {"task_id": "task_1", "task_token": "tok", "task_type": 3}
    assert _named_task(json.dumps({**broken, "segment": 2})) == ("task_1#s2", "tok")
    assert _named_task(json.dumps({**broken, "segment": 2, "stitch": True})) == ("task_1#stitch", "tok")
    assert GOOD.model_copy(update={"segment": 0}).unit_id == "task_1#s0" and GOOD.unit_id == "task_1"


def test_a_lost_entry_is_rebuilt_from_its_dispatch_record() -> None:
    """The keeper re-adds an entry Redis lost from the DynamoDB record: the same message, token included."""
    record = RenderDispatch(
        task_id="task_1",
        workspace_id="ws_1",
        task_type=TaskType.gaze_redirect,
        task_token="tok",
        dispatched_at=datetime(2026, 1, 1, tzinfo=UTC),
        entry_id="1-0",
    )
    assert record.message() == GOOD
