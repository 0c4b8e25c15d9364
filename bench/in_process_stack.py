"""The local stack's pieces in this process, for the latency and load benches: real redis-server and moto, the
SQS pollers with the render queue keeper, one worker thread with the real engines, and the API under uvicorn on
loopback; the source clip is served from a loopback origin."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from framelane.api.app import create_app
from framelane.config import Settings
from framelane.engines.base import load_registry
from framelane.local.bootstrap import bootstrap_stores
from framelane.local.processes import aws_environment, free_port, running_services
from framelane.local.runtime import start_pipeline_runtime, with_local_pipeline
from framelane.services.context import build_context
from framelane.services.workspaces import create_workspace
from tests.support.servers import LoopbackServer, loopback_server


@dataclass(frozen=True)
class BenchStack:
    api: httpx.Client  # authenticated as a fresh workspace
    origin: LoopbackServer
    source_url: str  # the clip, on the loopback origin


@contextmanager
def in_process_stack(workdir: Path, clip: bytes) -> Iterator[BenchStack]:
    with running_services(workdir) as (redis_service, moto_service), loopback_server() as origin:
        os.environ.update(aws_environment(moto_service.url))
        settings = Settings(
            aws_endpoint_url=moto_service.url,
            redis_url=redis_service.url,
            outbound_policy="allowlist",
            allowed_networks=("127.0.0.1/32",),
            rate_limit_create_burst=1_000_000,  # checked, never exhausted: these benches measure throughput
            rate_limit_requests_burst=1_000_000,
        )
        bootstrap_stores(build_context(settings))
        settings = with_local_pipeline(settings)
        ctx = build_context(settings)
        runtime = start_pipeline_runtime(ctx, load_registry())
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
                yield BenchStack(api, origin, origin.serve_bytes("/clip.mp4", clip))
        finally:
            runtime.stop()
            server.should_exit = True
