"""Real servers for integration tests: redis-server and moto_server (started here), the API under uvicorn."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from framelane.api.app import create_app
from framelane.config import Settings
from framelane.local.bootstrap import bootstrap_stores
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
        )
        ctx = build_context(settings)
        bootstrap_stores(ctx)
        yield Stack(redis_service, moto_service, settings, ctx)


@pytest.fixture(scope="session")
def api_url(stack: Stack) -> Iterator[str]:
    """The API under a real uvicorn server on a loopback port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(stack.settings, stack.ctx), host="127.0.0.1", port=port, log_level="warning"
        )
    )
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
