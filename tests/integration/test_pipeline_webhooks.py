"""Webhook delivery through the webhook state machine: retries keep the webhook-id, 410 disables, progress
events are throttled; and the S3 upload trigger."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import standardwebhooks

from framelane.media.samples import make_sample_clip
from framelane.models import NotifyMessage, WebhookEvent
from framelane.services.context import ServiceContext
from framelane.services.notify import notify
from tests.support.servers import LoopbackServer, Recorded, loopback_server

from .pipeline_helpers import spawn_worker, thread_worker, wait_for_task


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
        job = wait_for_task(papi, created.json()["id"])
    assert job["status"] == "completed"
    return str(job["id"])


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
    time.sleep(1.5)
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
    time.sleep(2.5)  # the retry schedule is 1 s here: a retry would have come
    assert len(origin.received("/gone")) == 1
    second = _finished_task(papi, origin, pipeline_ctx)
    time.sleep(2)
    assert len(origin.received("/gone")) == 1, f"disabled endpoint {endpoint['id']} was called for {second}"


def test_progress_events_are_throttled(
    papi: httpx.Client,
    pipeline_settings,
    pipeline_ctx: ServiceContext,
    origin: LoopbackServer,  # type: ignore[no-untyped-def]
) -> None:
    hook = origin.respond("/progress", lambda _: (200, {}, b""))
    worker = spawn_worker(pipeline_settings, "slow-progress", engine_delay=0.25)  # 25 frames → ~6 s
    try:
        created = papi.post(
            "/v1/tasks/gaze-redirect", json={"source_url": origin.url + "/clip.mp4", "webhook_url": hook}
        )
        job = wait_for_task(papi, created.json()["id"], timeout=90)
    finally:
        worker.terminate()
        worker.wait(30)
    assert job["status"] == "completed"
    time.sleep(1.5)
    events = [(json.loads(r.body), r) for r in origin.received("/progress")]
    progress = [e for e, _ in events if e["type"] == "task.progress"]
    assert 2 <= len(progress) <= 5, [p["data"]["progress_percent"] for p in progress]
    stamps = sorted(int(r.headers["webhook-timestamp"]) for e, r in events if e["type"] == "task.progress")
    assert all(b - a >= 1 for a, b in itertools.pairwise(stamps))  # whole seconds: ≥2 s apart, ±1 s
    assert [e["type"] for e, _ in events].count("task.completed") == 1


def test_notify_twice_starts_one_delivery(
    papi: httpx.Client, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    hook = origin.respond("/once", lambda _: (200, {}, b""))
    task_id = _finished_task(papi, origin, pipeline_ctx, webhook_url=hook)

    def completed_deliveries() -> list[Recorded]:
        return [r for r in origin.received("/once") if json.loads(r.body)["type"] == "task.completed"]

    _wait_for(lambda: len(completed_deliveries()) == 1)  # the pipeline's own Notify has run
    job = papi.get(f"/v1/tasks/{task_id}").json()
    message = NotifyMessage(
        task_id=task_id, workspace_id=job["workspace_id"], event=WebhookEvent.task_completed
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
