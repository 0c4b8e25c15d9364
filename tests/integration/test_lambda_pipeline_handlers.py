"""The pipeline Lambdas (functions/*) fed SQS events, backed by moto_server and a loopback source."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import httpx
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from framelane.config import Settings, get_settings
from framelane.media.samples import make_sample_clip
from framelane.models import CallbackMessage, TaskExecutionInput
from framelane.services.context import ServiceContext
from tests.support.servers import loopback_server

from .conftest import settings_environment

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
CONTEXT = SimpleNamespace(
    function_name="f",
    function_version="1",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
    aws_request_id="r",
)


def load(name: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for key, value in {**settings_environment(settings), **env}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    spec = importlib.util.spec_from_file_location(f"lambda_{name}", FUNCTIONS / name / "handler.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    get_settings.cache_clear()
    return module


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": "r",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def test_ingest_step_lambda(
    papi: httpx.Client,
    pipeline_settings: Settings,
    pipeline_ctx: ServiceContext,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # No state machine: the Lambda is driven directly, its token is answered into the void.
    settings = pipeline_settings.model_copy(update={"task_state_machine_arn": None})
    module = load("pipeline_step", settings, monkeypatch, FRAMELANE_STEP="ingest")
    with loopback_server() as origin:
        source = origin.serve_bytes("/c.mp4", make_sample_clip(tmp_path / "c.mp4").read_bytes())
        task = papi.post("/v1/tasks/gaze-redirect", json={"source_url": source}).json()
        payload = TaskExecutionInput(
            task_id=task["id"],
            workspace_id=task["workspace_id"],
            task_type="gaze_redirect",
            source_url=source,
        )
        body = CallbackMessage(task_token="not-a-live-token", payload=payload.model_dump()).model_dump_json()
        result = module.handler(sqs_event(body, "not json"), CONTEXT)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}  # only the broken record is retried
    stored = pipeline_ctx.store.get_task(task["workspace_id"], task["id"])
    assert stored is not None and stored.source_key and stored.media and stored.media.width == 160


def test_s3_trigger_lambda(
    papi: httpx.Client,
    pipeline_settings: Settings,
    pipeline_ctx: ServiceContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = pipeline_settings.model_copy(update={"task_state_machine_arn": None})
    module = load("s3_trigger", settings, monkeypatch)
    workspace_id = papi.post("/v1/uploads").json()["source_url"].split("/")[4]
    key = f"uploads/{workspace_id}/super-resolution/my+clip.mp4"
    pipeline_ctx.blobs._client.put_object(
        Bucket=pipeline_ctx.blobs.bucket,
        Key=key.replace("+", " "),
        Body=b"x",
        Metadata={"scale": "3", "mode": "fast"},
    )
    event = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": pipeline_ctx.blobs.bucket},
                    "object": {"key": key, "sequencer": "0A1"},
                },
            }
        ]
    }
    assert module.handler(sqs_event(json.dumps(event)), CONTEXT) == {"batchItemFailures": []}
    # moto's own notification of the same put reaches the local pollers too (another sequencer: another task)
    deadline = time.monotonic() + 30
    while len(tasks := papi.get("/v1/tasks").json()["data"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(tasks) == 2
    assert {(t["task_type"], json.dumps(t["options"], sort_keys=True)) for t in tasks} == {
        ("super_resolution", json.dumps({"scale": 3, "mode": "fast"}, sort_keys=True))
    }
    assert all(t["source_url"].endswith("/super-resolution/my%20clip.mp4") for t in tasks)
    module.handler(sqs_event(json.dumps(event)), CONTEXT)  # S3 may deliver an event twice: no new task
    assert len(papi.get("/v1/tasks").json()["data"]) == 2


def test_backlog_lambda_publishes_the_backlog_and_keeps_the_render_queue(
    papi: httpx.Client,
    pipeline_settings: Settings,
    pipeline_ctx: ServiceContext,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """On AWS the every-minute backlog Lambda is the render queue keeper: with a zero queue-wait limit, a render
    no worker took fails `queue_timeout` (a longer limit heartbeats it instead)."""
    module = load("backlog_metric", pipeline_settings, monkeypatch, FRAMELANE_RENDER_QUEUE_WAIT_SECONDS="0")
    with loopback_server() as origin:
        source = origin.serve_bytes("/c.mp4", make_sample_clip(tmp_path / "c.mp4").read_bytes())
        task_id = papi.post("/v1/tasks/super-resolution", json={"source_url": source}).json()["id"]
        deadline = time.monotonic() + 60
        while pipeline_ctx.store.get_render_dispatch(task_id) is None:
            assert time.monotonic() < deadline, "the render was never dispatched"
            time.sleep(0.2)
    result = module.handler({}, CONTEXT)
    assert result["backlog"]["super_resolution"] >= 1 and result["keeper"]["expired"] >= 1, result
    deadline = time.monotonic() + 30
    while (task := papi.get(f"/v1/tasks/{task_id}").json())["status"] != "failed":
        assert time.monotonic() < deadline, task
        time.sleep(0.2)
    assert task["error"]["code"] == "queue_timeout"
    assert pipeline_ctx.store.get_render_dispatch(task_id) is None


def test_step_lambda_fails_the_step_on_the_last_delivery(
    papi: httpx.Client,
    pipeline_settings: Settings,
    pipeline_ctx: ServiceContext,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A step message that cannot be processed is retried, and on its last SQS delivery fails its step at once
    (`internal_error`) instead of going to the DLQ while the task waits out the step's timeout."""
    module = load("pipeline_step", pipeline_settings, monkeypatch, FRAMELANE_STEP="dispatch")
    with loopback_server() as origin:
        source = origin.serve_bytes("/c.mp4", make_sample_clip(tmp_path / "c.mp4").read_bytes())
        task_id = papi.post("/v1/tasks/gaze-redirect", json={"source_url": source}).json()["id"]
        deadline = time.monotonic() + 60
        while (record := pipeline_ctx.store.get_render_dispatch(task_id)) is None:
            assert time.monotonic() < deadline, "the render was never dispatched"
            time.sleep(0.2)
    poison = CallbackMessage(task_token=record.task_token, payload={"task_id": task_id}).model_dump_json()
    event = sqs_event(poison)
    event["Records"][0]["attributes"] = {"ApproximateReceiveCount": "1"}
    with pytest.raises(BatchProcessingError):  # every record of the batch failed: SQS delivers it again
        module.handler(event, CONTEXT)
    event["Records"][0]["attributes"] = {"ApproximateReceiveCount": "3"}
    assert module.handler(event, CONTEXT) == {"batchItemFailures": []}
    deadline = time.monotonic() + 30
    while (task := papi.get(f"/v1/tasks/{task_id}").json())["status"] != "failed":
        assert time.monotonic() < deadline, task
        time.sleep(0.2)
    assert task["error"] == {"code": "internal_error", "message": "dispatch failed 3 times"}


def test_dead_letter_lambda_consumes_what_cannot_be_retried(
    pipeline_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dead-lettered callback message answers its token (a token already gone is fine) and a body that is no
    callback message is logged, not retried forever: nothing goes back to the queue."""
    module = load("dead_letter", pipeline_settings, monkeypatch)
    body = CallbackMessage(task_token="not-a-live-token", payload={}).model_dump_json()
    assert module.handler(sqs_event(body, "not json"), CONTEXT) == {"batchItemFailures": []}
