"""Real servers for integration tests: redis-server and moto_server (started here), the API under uvicorn."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from framelane.api.app import create_app
from framelane.config import Settings
from framelane.local.bootstrap import bootstrap_stores
from framelane.local.in_process import start_in_process_pipeline, with_local_pipeline
from framelane.local.processes import ChildService, aws_environment, free_port, running_services
from framelane.models import WorkspaceCreated
from framelane.services.context import ServiceContext, build_context
from framelane.services.workspaces import create_workspace

ADMIN_TOKEN = "test-admin-token"


@dataclass(frozen=True)
class Stack:
    redis: ChildService
    moto: ChildService
    settings: Settings
    ctx: ServiceContext


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_services(tmp_path_factory.mktemp("services")) as (redis_service, moto_service):
        os.environ.update(aws_environment(moto_service.url))
        settings = Settings(
            aws_endpoint_url=moto_service.url,
            redis_url=redis_service.url,
            admin_token=ADMIN_TOKEN,
            cursor_secret="test-cursor-secret",
            c2pa_dev_credentials_dir=str(tmp_path_factory.mktemp("content-credentials") / "dev"),
        )
        ctx = build_context(settings)
        bootstrap_stores(ctx)
        yield Stack(redis_service, moto_service, settings, ctx)


@contextmanager
def serve_app(app: FastAPI, port: int | None = None) -> Iterator[str]:
    """An ASGI app under a real uvicorn server on a loopback port."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def api_url(stack: Stack) -> Iterator[str]:
    with serve_app(create_app(stack.settings, stack.ctx)) as url:
        yield url


@pytest.fixture
def workspace(stack: Stack) -> WorkspaceCreated:
    return create_workspace(stack.ctx, "test")


@pytest.fixture
def api(api_url: str, workspace: WorkspaceCreated) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=api_url, headers={"Authorization": f"Bearer {workspace.api_key}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def other_api(api_url: str, stack: Stack) -> Iterator[httpx.Client]:
    other = create_workspace(stack.ctx, "other")
    with httpx.Client(
        base_url=api_url, headers={"Authorization": f"Bearer {other.api_key}"}, timeout=30
    ) as client:
        yield client


# --- the pipeline: queues + state machines on moto, pollers in this process, workers per test -------------

PIPELINE_OVERRIDES = {
    "max_source_bytes": 3_000_000,
    "max_source_seconds": 20.0,
    "webhook_retry_schedule": (1, 1, 1),
    "worker_visibility_timeout": 3.0,
    "render_heartbeat_seconds": 9,
    "render_queue_keeper_interval": 1.0,
    "fetch_read_timeout": 10.0,
    "stream_prefix": "fltest:tasks",
}


@pytest.fixture(scope="session")
def pipeline_settings(stack: Stack) -> Settings:
    return with_local_pipeline(stack.settings.model_copy(update=PIPELINE_OVERRIDES), name="fltest")


@pytest.fixture(scope="session")
def pipeline_ctx(pipeline_settings: Settings) -> Iterator[ServiceContext]:
    ctx = build_context(pipeline_settings)
    in_process = start_in_process_pipeline(ctx, engines=None)
    yield ctx
    in_process.stop()


@pytest.fixture(scope="session")
def pipeline_api_url(pipeline_settings: Settings, pipeline_ctx: ServiceContext) -> Iterator[str]:
    with serve_app(create_app(pipeline_settings, pipeline_ctx)) as url:
        yield url


@pytest.fixture
def pipeline_workspace(pipeline_ctx: ServiceContext) -> WorkspaceCreated:
    return create_workspace(pipeline_ctx, "pipeline")


@pytest.fixture
def papi(pipeline_api_url: str, pipeline_workspace: WorkspaceCreated) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {pipeline_workspace.api_key}"}
    with httpx.Client(base_url=pipeline_api_url, headers=headers, timeout=30) as client:
        yield client


def settings_environment(settings: Settings) -> dict[str, str]:
    """The FRAMELANE_* environment that reproduces `settings` in a subprocess (a worker)."""
    env = {**os.environ}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, tuple):
            value = ",".join(str(v) for v in value)
        env[f"FRAMELANE_{name.upper()}"] = str(value)
    return env
