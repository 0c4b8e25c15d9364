"""services.s3_trigger over in-memory stores: S3 notifications (read with Powertools' S3Event) become tasks."""

from __future__ import annotations

from typing import Any

from framelane.models import ApiKeyRecord, TaskType, Workspace, utc_now
from framelane.services.s3_trigger import tasks_from_s3_event
from tests.unit.fakes import fake_context, store, workflows

WS = Workspace(id="ws_1", name="one", created_at=utc_now(), signing_secret="whsec_c2VjcmV0")


def _record(event_name: str, key: str, sequencer: str = "0A1") -> dict[str, Any]:
    return {
        "eventName": event_name,
        "s3": {"bucket": {"name": "fake-bucket"}, "object": {"key": key, "sequencer": sequencer}},
    }


def test_created_uploads_become_tasks_once_per_object_version() -> None:
    ctx = fake_context()
    store(ctx).put_workspace(
        WS, ApiKeyRecord(key_hash="h", workspace_id=WS.id, prefix="fl_", created_at=utc_now())
    )
    key = "uploads/ws_1/super-resolution/my clip.mp4"
    ctx.blobs.put_bytes(key, b"x")
    ctx.blobs.metadata[key] = {"scale": "3", "meta-project": "p1"}  # type: ignore[attr-defined]
    event = {
        "Records": [
            _record("ObjectCreated:Put", "uploads/ws_1/super-resolution/my+clip.mp4"),
            _record("ObjectRemoved:Delete", "uploads/ws_1/super-resolution/other.mp4"),
            _record("ObjectCreated:Put", "uploads/ws_1/files/u_1/clip.mp4"),  # a POST /v1/uploads source
        ]
    }
    (created,) = tasks_from_s3_event(ctx, event)
    assert created.task_type is TaskType.super_resolution and created.options["scale"] == 3
    assert created.metadata == {"project": "p1"}
    assert created.source_url == "s3://fake-bucket/uploads/ws_1/super-resolution/my%20clip.mp4"
    assert [task.id for task in tasks_from_s3_event(ctx, event)] == [created.id]  # a redelivery replays it
    assert len(store(ctx).tasks) == 1 and len(workflows(ctx).started) == 1


def test_the_test_event_s3_sends_starts_nothing() -> None:
    ctx = fake_context()
    assert tasks_from_s3_event(ctx, {"Service": "Amazon S3", "Event": "s3:TestEvent"}) == []
