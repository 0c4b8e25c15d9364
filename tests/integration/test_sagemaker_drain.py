"""SageMaker mode end to end on the local stack: the backlog Lambda's dispatcher queues asynchronous drain
invocations (moto's SageMaker runtime, the input object in S3), and the serving container — uvicorn on loopback —
gets that object's body on POST /invocations, as SageMaker delivers it, claims the waiting stream entry and
renders it; the stream is empty afterwards (ACKed once settled, as an ECS worker does)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from framelane.adapters.sagemaker_async import DRAIN_KEY
from framelane.engines.base import EngineRegistry
from framelane.media.samples import make_sample_clip
from framelane.models import TaskType
from framelane.services.context import ServiceContext, build_context
from framelane.worker.backlog import endpoint_from_settings, request_drains, stream_backlog
from framelane.worker.runtime import worker_from_settings
from framelane.worker.sagemaker import serving_app
from tests.support.engines import register
from tests.support.servers import LoopbackServer, loopback_server

from .conftest import serve_app
from .pipeline_helpers import wait_for_task

pytestmark = pytest.mark.integration


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[LoopbackServer]:
    with loopback_server() as server:
        server.serve_bytes("/clip.mp4", make_sample_clip(tmp_path / "clip.mp4").read_bytes())
        yield server


def test_dispatcher_wakes_the_endpoint_and_invocations_drain_the_stream(
    papi: httpx.Client, pipeline_ctx: ServiceContext, origin: LoopbackServer
) -> None:
    created = papi.post(
        "/v1/tasks/super-resolution", json={"source_url": origin.url + "/clip.mp4", "scale": 1.5}
    )
    task = wait_for_task(papi, created.json()["id"], until={"queued"})
    backlog = sum(stream_backlog(pipeline_ctx).values())
    assert backlog >= 1

    ctx = build_context(pipeline_ctx.settings.model_copy(update={"sagemaker_endpoint": "framelane-renderer"}))
    endpoint = endpoint_from_settings(ctx)
    assert endpoint is not None
    assert request_drains(ctx, endpoint, backlog) == 1  # one invocation drains up to 20 entries
    body = ctx.blobs.get_bytes(DRAIN_KEY)  # what SageMaker hands the container for each of them

    registry = EngineRegistry()
    register(registry)
    worker = worker_from_settings(pipeline_ctx, registry, consumer="sagemaker-drain")
    with serve_app(serving_app(worker)) as url:
        assert httpx.get(f"{url}/ping", timeout=10).status_code == 200
        response = httpx.post(
            f"{url}/invocations", content=body, headers={"Content-Type": "application/json"}, timeout=120
        )
    assert response.status_code == 200, response.text
    assert json.loads(response.text)["rendered"] >= 1
    finished = wait_for_task(papi, task["id"], until={"completed"})
    assert finished["output"]["width"] == 160
    deadline = time.monotonic() + 30
    while stream_backlog(pipeline_ctx).get(TaskType.super_resolution.value) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stream_backlog(pipeline_ctx).get(TaskType.super_resolution.value) == 0
