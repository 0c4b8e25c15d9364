"""The local stack's pieces in this process, for the benches: real redis-server and moto, the SQS pollers with
the render queue keeper, a worker thread with the real engines (or none: the bench starts worker processes),
and the API under uvicorn on loopback; the source clip is served from a loopback origin."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from framelane.api.app import create_app
from framelane.config import Settings
from framelane.engines.base import EngineRegistry, load_registry
from framelane.local.bootstrap import bootstrap_stores
from framelane.local.in_process import start_in_process_pipeline, with_local_pipeline
from framelane.local.processes import aws_environment, free_port, running_services
from framelane.services.context import ServiceContext, build_context
from framelane.services.workspaces import create_workspace
from tests.support.servers import LoopbackServer, loopback_server


@dataclass(frozen=True)
class BenchStack:
    api: httpx.Client  # authenticated as a fresh workspace
    origin: LoopbackServer
    source_url: str  # the clip, on the loopback origin


@contextmanager
def in_process_api(
    workdir: Path, engines: EngineRegistry | None, **overrides: Any
) -> Iterator[tuple[ServiceContext, httpx.Client]]:
    """The stack's context and an API client authenticated as a fresh workspace; a worker thread only with
    `engines`; `overrides` are Settings fields (the context's settings are what worker processes need)."""
    with running_services(workdir) as (redis_service, moto_service):
        os.environ.update(aws_environment(moto_service.url))
        settings = Settings(
            aws_endpoint_url=moto_service.url,
            redis_url=redis_service.url,
            outbound_policy="allowlist",
            allowed_networks=("127.0.0.1/32",),
            rate_limit_create_burst=1_000_000,  # checked, never exhausted: the benches measure throughput
            rate_limit_requests_burst=1_000_000,
            **overrides,
        )
        bootstrap_stores(build_context(settings))
        settings = with_local_pipeline(settings)
        ctx = build_context(settings)
        in_process = start_in_process_pipeline(ctx, engines)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, ctx), host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        key = create_workspace(ctx, "bench").api_key
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as api:
                yield ctx, api
        finally:
            in_process.stop()
            server.should_exit = True


@contextmanager
def in_process_stack(workdir: Path, clip: bytes) -> Iterator[BenchStack]:
    """The stack with one worker thread on the real engines, and `clip` on a loopback origin."""
    with in_process_api(workdir, load_registry()) as (_, api), loopback_server() as origin:
        yield BenchStack(api, origin, origin.serve_bytes("/clip.mp4", clip))
