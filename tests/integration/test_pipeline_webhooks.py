"""Webhook delivery through the webhook state machine: retries keep the webhook-id, 410 disables, progress
events are throttled; and the S3 upload trigger."""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import standardwebhooks

from framelane.config import Settings
from framelane.media.samples import make_sample_clip
from framelane.models import (
    JobOut,
    NotifyMessage,
    WebhookDeliveryInput,
    WebhookDeliveryResult,
    WebhookEvent,
    WebhookPayload,
    WorkspaceCreated,
    utc_now,
)
from framelane.services.context import ServiceContext, build_context
from framelane.services.notify import emit_progress, event_id, notify
from framelane.services.webhook_delivery import deliver
from tests.support.servers import LoopbackServer, Recorded, hanging_server, loopback_server

from .conftest import Stack
from .pipeline_helpers import thread_worker, wait_for_task


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[LoopbackServer]:
    with loopback_server() as server:
        server.serve_bytes("/clip.mp4", make_sample_clip(tmp_path / "clip.mp4", seconds=1).read_bytes())
        yield server


def _wait_for(predicate, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def _finished_task(papi: httpx.Client, origin: LoopbackServer, ctx: ServiceContext, **body: object) -> str:
    created = papi.post("/v1/tasks/gaze-redirect", json={"source_url": origin.url + "/clip.mp4", **body})
    with thread_worker(ctx):
        task = wait_for_task(papi, created.json()["id"])
    assert task["status"] == "completed"
    return str(task["id"])


def _execution_arn(state_machine_arn: str | None, name: str) -> str:
    assert state_machine_arn is not None
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def _execution_over(
    ctx: ServiceContext, state_machine_arn: str | None, name: str, timeout: float = 60
) -> None:
    client = ctx.sfn._client  # type: ignore[attr-defined]
    execution = _execution_arn(state_machine_arn, name)
    _wait_for(lambda: client.describe_execution(executionArn=execution)["status"] != "RUNNING", timeout)


def _delivery_over(ctx: ServiceContext, webhook_id: str, endpoint_id: str) -> None:
    """Wait until the delivery's execution (named after the event and the endpoint) has ended: after that no
    attempt can come, so counting the ones received is final."""
    _execution_over(ctx, ctx.settings.webhook_state_machine_arn, f"{webhook_id}-{endpoint_id}")


def test_failing_receiver_gets_the_same_webhook_id_until_it_accepts(
    papi: httpx.Client, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    answers = iter([500, 503])

    def flaky(_: Recorded) -> tuple[int, dict[str, str], bytes]:
        return next(answers, 200), {}, b""

    hook = origin.respond("/flaky", flaky)
    endpoint = papi.post("/v1/webhooks", json={"url": hook, "events": ["task.completed"]}).json()
    task_id = _finished_task(papi, origin, pipeline_ctx)
    _wait_for(lambda: len(origin.received("/flaky")) >= 3)
    _delivery_over(pipeline_ctx, origin.received("/flaky")[0].headers["webhook-id"], endpoint["id"])
    deliveries = origin.received("/flaky")
    assert len(deliveries) == 3  # 500, 503, then 200: no fourth attempt
    assert len({d.headers["webhook-id"] for d in deliveries}) == 1
    for delivery in deliveries:
        payload = standardwebhooks.Webhook(endpoint["secret"]).verify(delivery.body, delivery.headers)
        assert payload["type"] == "task.completed" and payload["data"]["id"] == task_id
    attempts = papi.get(f"/v1/webhooks/{endpoint['id']}/attempts").json()["data"]
    assert {a["event_id"] for a in attempts} == {deliveries[0].headers["webhook-id"]}
    assert sorted((a["attempt"], a["status_code"], a["delivered"]) for a in attempts) == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]


def test_410_disables_the_endpoint(
    papi: httpx.Client, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    hook = origin.respond("/gone", lambda _: (410, {}, b"gone"))
    endpoint = papi.post("/v1/webhooks", json={"url": hook, "events": ["task.completed"]}).json()
    _finished_task(papi, origin, pipeline_ctx)
    _wait_for(lambda: [e["disabled"] for e in papi.get("/v1/webhooks").json()["data"]] == [True])
    _delivery_over(pipeline_ctx, origin.received("/gone")[0].headers["webhook-id"], endpoint["id"])
    assert len(origin.received("/gone")) == 1
    second = _finished_task(papi, origin, pipeline_ctx)
    _execution_over(pipeline_ctx, pipeline_ctx.settings.task_state_machine_arn, second)  # Notify has run
    client = pipeline_ctx.sfn._client  # type: ignore[attr-defined]
    never_started = f"{event_id(second, WebhookEvent.task_completed)}-{endpoint['id']}"
    with pytest.raises(client.exceptions.ExecutionDoesNotExist):
        client.describe_execution(
            executionArn=_execution_arn(pipeline_ctx.settings.webhook_state_machine_arn, never_started)
        )
    assert len(origin.received("/gone")) == 1, f"disabled endpoint {endpoint['id']} was called for {second}"


def test_a_receiver_that_always_fails_gets_every_retry_and_no_more(
    papi: httpx.Client, pipeline_settings: Settings, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    hook = origin.respond("/down", lambda _: (500, {}, b""))
    endpoint = papi.post("/v1/webhooks", json={"url": hook, "events": ["task.completed"]}).json()
    _finished_task(papi, origin, pipeline_ctx)
    _wait_for(lambda: origin.received("/down") != [])
    webhook_id = origin.received("/down")[0].headers["webhook-id"]
    _delivery_over(pipeline_ctx, webhook_id, endpoint["id"])
    retries = len(pipeline_settings.webhook_retry_schedule)
    deliveries = origin.received("/down")
    assert len(deliveries) == 1 + retries
    assert {d.headers["webhook-id"] for d in deliveries} == {webhook_id}
    attempts = papi.get(f"/v1/webhooks/{endpoint['id']}/attempts").json()["data"]
    assert sorted((a["attempt"], a["status_code"], a["delivered"]) for a in attempts) == [
        (n, 500, False) for n in range(1, retries + 2)
    ]
    assert [e["disabled"] for e in papi.get("/v1/webhooks").json()["data"]] == [False]  # only 410 disables


def test_an_endpoint_deleted_between_retries_is_not_called_again(
    papi: httpx.Client, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    endpoint_ids: list[str] = []

    def fail_and_delete(_: Recorded) -> tuple[int, dict[str, str], bytes]:
        papi.delete(f"/v1/webhooks/{endpoint_ids[0]}")  # the owner removes it before the first retry
        return 500, {}, b""

    hook = origin.respond("/removed", fail_and_delete)
    endpoint_ids.append(
        papi.post("/v1/webhooks", json={"url": hook, "events": ["task.completed"]}).json()["id"]
    )
    _finished_task(papi, origin, pipeline_ctx)
    _wait_for(lambda: origin.received("/removed") != [])
    _delivery_over(pipeline_ctx, origin.received("/removed")[0].headers["webhook-id"], endpoint_ids[0])
    assert len(origin.received("/removed")) == 1
    assert papi.get("/v1/webhooks").json()["data"] == []


def test_a_hanging_receiver_times_out_into_a_failed_attempt_and_a_retry(
    stack: Stack, api: httpx.Client, workspace: WorkspaceCreated
) -> None:
    task = api.post("/v1/tasks/gaze-redirect", json={"source_url": "https://cdn.example.com/a.mp4"}).json()
    payload = WebhookPayload(
        type=WebhookEvent.task_completed,
        id="evt_hanging",
        created_at=utc_now(),
        data=JobOut.model_validate(task),
    )
    impatient = dataclasses.replace(
        stack.ctx, settings=stack.settings.model_copy(update={"webhook_timeout": 0.5})
    )
    results: list[WebhookDeliveryResult] = []
    with hanging_server() as url:
        delivery = WebhookDeliveryInput(
            workspace_id=workspace.workspace_id, url=url, event_id=payload.id, body=payload.model_dump_json()
        )
        # a liveness bound, 20 times the 0.5 s timeout: without one the attempt would wait for ever
        sender = threading.Thread(target=lambda: results.append(deliver(impatient, delivery)), daemon=True)
        sender.start()
        sender.join(10)
    assert results, "the attempt never gave up on the hanging receiver"
    first_retry = stack.settings.webhook_retry_schedule[0]
    assert results == [WebhookDeliveryResult(delivered=False, retry_in_seconds=first_retry, attempt=2)]
    [attempt] = stack.ctx.store.event_attempts(workspace.workspace_id, payload.id)
    assert attempt.status_code is None and not attempt.delivered and attempt.error


def test_progress_events_are_throttled_across_workers(
    papi: httpx.Client, pipeline_settings: Settings, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    """Two workers (two contexts, one Redis) ask to send task.progress as fast as they can: one event per
    `progress_event_interval` goes out. Each accepted call's span is bracketed on this clock, so a slow machine
    only widens the brackets: it can hide nothing and fail nothing."""
    hook = origin.respond("/progress", lambda _: (200, {}, b""))
    created = papi.post(
        "/v1/tasks/gaze-redirect", json={"source_url": origin.url + "/clip.mp4", "webhook_url": hook}
    )
    task = created.json()
    workers = [pipeline_ctx, build_context(pipeline_settings)]
    accepted: list[tuple[float, float]] = []  # (start, end) of each call that sent an event
    calls = 0
    deadline = time.monotonic() + 30
    while len(accepted) < 3:
        assert time.monotonic() < deadline, f"only {len(accepted)} progress events in {calls} calls"
        start = time.monotonic()
        sent = emit_progress(workers[calls % 2], task["workspace_id"], task["id"])
        calls += 1
        if sent:
            accepted.append((start, time.monotonic()))
        time.sleep(0.01)
    interval = pipeline_settings.progress_event_interval
    for (earlier, _), (_, later) in itertools.pairwise(accepted):
        assert (
            later - earlier >= interval
        )  # the second event's throttle slot opened `interval` after the first
    assert calls > len(accepted)
    _wait_for(lambda: len(origin.received("/progress")) >= 3)
    events = [json.loads(r.body) for r in origin.received("/progress")]
    assert [e["type"] for e in events] == ["task.progress"] * 3
    assert len({e["id"] for e in events}) == 3 and {e["data"]["id"] for e in events} == {task["id"]}


def test_a_render_reports_progress_then_completion_to_the_task_webhook(
    papi: httpx.Client,
    pipeline_ctx: ServiceContext,
    origin: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook = origin.respond("/render", lambda _: (200, {}, b""))
    monkeypatch.setenv("FRAMELANE_TEST_ENGINE_DELAY", "0.1")  # 25 frames: progress is written on the way
    created = papi.post(
        "/v1/tasks/gaze-redirect", json={"source_url": origin.url + "/clip.mp4", "webhook_url": hook}
    )
    with thread_worker(pipeline_ctx):
        task = wait_for_task(papi, created.json()["id"])
    assert task["status"] == "completed"

    def events() -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in origin.received("/render")]

    _wait_for(lambda: "task.completed" in [e["type"] for e in events()])
    progress = [e["data"]["progress_percent"] for e in events() if e["type"] == "task.progress"]
    assert progress and progress == sorted(progress) and progress[-1] < 100, progress
    assert [e["type"] for e in events()].count("task.completed") == 1


def test_notify_twice_starts_one_delivery(
    papi: httpx.Client, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    hook = origin.respond("/once", lambda _: (200, {}, b""))
    task_id = _finished_task(papi, origin, pipeline_ctx, webhook_url=hook)

    def completed_deliveries() -> list[Recorded]:
        return [r for r in origin.received("/once") if json.loads(r.body)["type"] == "task.completed"]

    _wait_for(lambda: len(completed_deliveries()) == 1)  # the pipeline's own Notify has run
    task = papi.get(f"/v1/tasks/{task_id}").json()
    message = NotifyMessage(
        task_id=task_id, workspace_id=task["workspace_id"], event=WebhookEvent.task_completed
    )
    assert notify(pipeline_ctx, message) == 0  # a redelivered Notify message starts nothing
    time.sleep(2)
    assert len(completed_deliveries()) == 1


def test_s3_upload_under_a_task_folder_creates_a_task(
    papi: httpx.Client, pipeline_ctx: ServiceContext, tmp_path: Path
) -> None:
    probe = papi.post("/v1/uploads").json()["source_url"]
    workspace_id = probe.split("/")[4]
    key = f"uploads/{workspace_id}/gaze-redirect/clip.mp4"
    pipeline_ctx.blobs._client.put_object(
        Bucket=pipeline_ctx.blobs.bucket,
        Key=key,
        Body=make_sample_clip(tmp_path / "u.mp4").read_bytes(),
        Metadata={"intensity": "0.5", "meta-project_id": "from-s3"},
    )
    _wait_for(lambda: papi.get("/v1/tasks").json()["data"] != [])
    tasks = papi.get("/v1/tasks").json()["data"]
    assert len(tasks) == 1
    task = tasks[0]
    assert task["task_type"] == "gaze_redirect" and task["options"] == {"intensity": 0.5}
    assert task["metadata"] == {"project_id": "from-s3"}
    assert task["source_url"] == f"s3://{pipeline_ctx.blobs.bucket}/{key}"
    with thread_worker(pipeline_ctx):
        assert wait_for_task(papi, task["id"])["status"] == "completed"


def test_presigned_upload_that_names_a_task_starts_it(
    papi: httpx.Client, pipeline_ctx: ServiceContext, tmp_path: Path
) -> None:
    upload = papi.post(
        "/v1/uploads",
        json={
            "content_type": "video/mp4",
            "task_type": "super_resolution",
            "options": {"scale": 1.5, "mode": "fast"},
            "metadata": {"order": 7},
        },
    ).json()
    assert "/super-resolution/" in upload["source_url"]
    assert upload["headers"]["x-amz-meta-scale"] == "1.5"
    put = httpx.put(
        upload["upload_url"],
        content=make_sample_clip(tmp_path / "u.mp4").read_bytes(),
        headers=upload["headers"],
    )
    assert put.status_code == 200, put.text
    _wait_for(lambda: papi.get("/v1/tasks").json()["data"] != [])
    task = papi.get("/v1/tasks").json()["data"][0]
    assert task["source_url"] == upload["source_url"]
    assert task["options"] == {"scale": 1.5, "mode": "fast"} and task["metadata"] == {"order": 7}
    with thread_worker(pipeline_ctx):
        assert wait_for_task(papi, task["id"])["status"] == "completed"
