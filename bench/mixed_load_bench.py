"""Mixed load through the real local stack pieces (moto Step Functions, SQS pollers with the render queue keeper,
Redis, one worker with the real engines): N tasks over the three renderer types submitted together, as in
issue 11 (30 tasks, 4 s 176×144 clips; super-resolution in fast mode to keep the run short on CPUs). The
generated clip has no face, so gaze_redirect ends `no_face_detected`: what counts is that every task ends, and
none `worker_lost`.
Prints final states and POST → terminal times; asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/mixed_load_bench.py [--tasks 30]
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from framelane.api.app import create_app
from framelane.config import Settings
from framelane.engines.base import load_registry
from framelane.local.bootstrap import bootstrap_stores
from framelane.local.processes import aws_environment, free_port, running_services
from framelane.local.runtime import start_pipeline_runtime, with_local_pipeline
from framelane.media.samples import make_sample_clip
from framelane.services.context import build_context
from framelane.services.workspaces import create_workspace
from framelane.worker.runtime import worker_from_settings
from tests.support.servers import loopback_server

REQUESTS = [
    ("/v1/tasks/remove-background", {}),
    ("/v1/tasks/gaze-redirect", {}),
    ("/v1/tasks/super-resolution", {"mode": "fast"}),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=30)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="framelane-bench-"))
    clip = make_sample_clip(workdir / "clip.mp4", seconds=4, width=176, height=144).read_bytes()
    with running_services(workdir) as (redis_service, moto_service), loopback_server() as origin:
        os.environ.update(aws_environment(moto_service.url))
        settings = Settings(
            aws_endpoint_url=moto_service.url,
            redis_url=redis_service.url,
            outbound_policy="allowlist",
            allowed_networks=("127.0.0.1/32",),
        )
        bootstrap_stores(build_context(settings))
        settings = with_local_pipeline(settings)
        ctx = build_context(settings)
        runtime = start_pipeline_runtime(ctx, None)  # pollers + keeper; the worker below
        worker = worker_from_settings(ctx, load_registry(), consumer="bench-worker")
        worker_thread = threading.Thread(target=worker.run, daemon=True)
        worker_thread.start()
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, ctx), host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        key = create_workspace(ctx, "bench").api_key
        source = origin.serve_bytes("/clip.mp4", clip)
        posted: dict[str, float] = {}
        ended: dict[str, dict[str, Any]] = {}
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as api:
            for i in range(args.tasks):
                route, options = REQUESTS[i % len(REQUESTS)]
                posted[api.post(route, json={"source_url": source, **options}).json()["id"]] = (
                    time.perf_counter()
                )
            deadline = time.perf_counter() + 1800
            while len(ended) < len(posted) and time.perf_counter() < deadline:
                for task_id in set(posted) - set(ended):
                    job = api.get(f"/v1/tasks/{task_id}").json()
                    if job["status"] in {"completed", "failed", "cancelled"}:
                        ended[task_id] = {**job, "seconds": time.perf_counter() - posted[task_id]}
                time.sleep(0.5)
        worker.stopping.set()
        worker_thread.join(60)
        runtime.stop()
        server.should_exit = True
    outcomes = collections.Counter(
        (job["task_type"], job["status"], (job["error"] or {}).get("code")) for job in ended.values()
    )
    print(f"{args.tasks} tasks over 3 renderer types submitted together, 1 worker, 4 s 176×144 clips")
    for (task_type, status, code), count in sorted(outcomes.items(), key=str):
        print(f"  {task_type:18} {status:10} {code or '':14} {count:3}")
    print(f"  not terminal after 30 min: {len(posted) - len(ended)}")
    seconds = sorted(float(job["seconds"]) for job in ended.values())
    if seconds:
        print(
            f"  POST → terminal: p50 {statistics.median(seconds):.1f} s, "
            f"p95 {seconds[max(int(len(seconds) * 0.95) - 1, 0)]:.1f} s, max {seconds[-1]:.1f} s"
        )


if __name__ == "__main__":
    main()
