"""API latency and throughput: create-task and list (limit 50) through uvicorn and in-process ASGI,
next to a bare FastAPI route on the same machine. Prints figures; asserts nothing.

    .venv/bin/python bench/api_bench.py [--requests 2000] [--concurrency 8]

Starts its own redis-server and moto_server on loopback (the local stack's code), so storage is moto: the
figures show the API's own cost and moto's, not DynamoDB's. Creates with an Idempotency-Key run fewer times
(`--keyed-requests`): each makes three conditional writes (claim the key, store the task, complete the
claim) where an unkeyed create makes one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from fastapi import FastAPI

from framelane.api.app import create_app
from framelane.config import Settings
from framelane.local.bootstrap import bootstrap_stores
from framelane.local.processes import aws_environment, free_port, running_services
from framelane.models import GazeRedirectRequest, JobOut, TaskStatus, TaskType, utc_now
from framelane.services.context import build_context
from framelane.services.tasks import create_task, list_tasks
from framelane.services.workspaces import authenticate, create_workspace

BODY = {
    "source_url": "https://cdn.example.com/presenter.mp4",
    "metadata": {"project_id": "bench"},
    "intensity": 0.8,
}


def bare_app() -> FastAPI:
    """The same shape of work minus auth, idempotency and storage: parse the body, return a JobOut."""
    app = FastAPI()

    @app.post("/bare", response_model=JobOut, status_code=202)
    def bare(body: GazeRedirectRequest) -> JobOut:
        now = utc_now()
        return JobOut(
            id="task_x",
            workspace_id="ws_x",
            status=TaskStatus.queued,
            created_at=now,
            updated_at=now,
            metadata=body.metadata,
            options=body.options(),
        )

    return app


def summarize(name: str, latencies: list[float], wall: float) -> dict[str, float]:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    rps = len(latencies) / wall
    print(f"  {name:44} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   {rps:8.1f} req/s")
    return {"p50": p50, "p99": p99, "rps": rps}


def run_sync(name: str, call: Callable[[int], httpx.Response], n: int, concurrency: int) -> dict[str, float]:
    def timed(i: int) -> float:
        start = time.perf_counter()
        response = call(i)
        elapsed = time.perf_counter() - start
        if response.status_code >= 400:
            raise RuntimeError(f"{name}: {response.status_code} {response.text[:200]}")
        return elapsed

    for i in range(min(50, n)):  # warm-up
        timed(-1 - i)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = list(pool.map(timed, range(n)))
    return summarize(f"{name} (c={concurrency})", latencies, time.perf_counter() - start)


async def run_async(name: str, call: Callable[[int], Awaitable[httpx.Response]], n: int) -> dict[str, float]:
    for i in range(min(50, n)):
        await call(-1 - i)
    latencies = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        response = await call(i)
        latencies.append(time.perf_counter() - t0)
        if response.status_code >= 400:
            raise RuntimeError(f"{name}: {response.status_code} {response.text[:200]}")
    return summarize(f"{name} (sequential)", latencies, time.perf_counter() - start)


def start_uvicorn(app_ref: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app_ref,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/openapi.json", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"uvicorn {app_ref} did not start; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--keyed-requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    n, c, nk = args.requests, args.concurrency, args.keyed_requests
    workdir = Path(tempfile.mkdtemp(prefix="framelane-bench-"))
    with running_services(workdir) as (redis_service, moto_service):
        env = {
            **os.environ,
            **aws_environment(moto_service.url),
            "FRAMELANE_REDIS_URL": redis_service.url,
            "FRAMELANE_CURSOR_SECRET": "bench",
            "FRAMELANE_OUTBOUND_POLICY": "allowlist",
            "FRAMELANE_ALLOWED_NETWORKS": "127.0.0.1/32",
            # the buckets are checked (their cost is in the figures) but never run dry
            "FRAMELANE_RATE_LIMIT_CREATE_BURST": "1000000",
            "FRAMELANE_RATE_LIMIT_REQUESTS_BURST": "1000000",
        }
        os.environ.update(env)
        settings = Settings()
        ctx = build_context(settings)
        bootstrap_stores(ctx)
        key = create_workspace(ctx, "bench").api_key
        auth = {"Authorization": f"Bearer {key}"}
        print(
            f"Framelane API benchmark: {n} requests per row, cpu count {os.cpu_count()}, storage = moto_server"
        )

        results: dict[str, dict[str, float]] = {}
        print("in-process ASGI (httpx ASGITransport):")

        async def asgi_rows() -> None:
            transport = httpx.ASGITransport(app=create_app(settings, ctx))
            bare = httpx.ASGITransport(app=bare_app())
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://asgi", headers=auth) as client,
                httpx.AsyncClient(transport=bare, base_url="http://asgi") as bare_client,
            ):
                results["asgi bare"] = await run_async(
                    "bare FastAPI route", lambda i: bare_client.post("/bare", json=BODY), n
                )
                results["asgi create"] = await run_async(
                    "create task", lambda i: client.post("/v1/tasks/gaze-redirect", json=BODY), n
                )
                results["asgi keyed"] = await run_async(
                    "create task + Idempotency-Key",
                    lambda i: client.post(
                        "/v1/tasks/gaze-redirect", json=BODY, headers={"Idempotency-Key": f"a{i}"}
                    ),
                    nk,
                )
                results["asgi list"] = await run_async(
                    "list tasks limit=50", lambda i: client.get("/v1/tasks", params={"limit": 50}), n
                )

        asyncio.run(asgi_rows())

        print("uvicorn on loopback (separate process, httpx keep-alive clients):")
        api, api_url = start_uvicorn("framelane.api.app:create_app", env, workdir / "uvicorn-api.log")
        bare_proc, bare_url = start_uvicorn(
            "bench.api_bench:bare_app",
            {**env, "PYTHONPATH": str(Path(__file__).parents[1])},
            workdir / "uvicorn-bare.log",
        )
        try:
            with (
                httpx.Client(
                    base_url=api_url, headers=auth, timeout=60, limits=httpx.Limits(max_connections=c)
                ) as client,
                httpx.Client(
                    base_url=bare_url, timeout=60, limits=httpx.Limits(max_connections=c)
                ) as bare_client,
            ):
                for conc in (1, c):
                    results[f"uv bare c{conc}"] = run_sync(
                        "bare FastAPI route", lambda i: bare_client.post("/bare", json=BODY), n, conc
                    )
                    results[f"uv create c{conc}"] = run_sync(
                        "create task", lambda i: client.post("/v1/tasks/gaze-redirect", json=BODY), n, conc
                    )
                    results[f"uv keyed c{conc}"] = run_sync(
                        "create task + Idempotency-Key",
                        lambda i, conc=conc: client.post(
                            "/v1/tasks/gaze-redirect", json=BODY, headers={"Idempotency-Key": f"u{conc}-{i}"}
                        ),
                        nk,
                        conc,
                    )
                    results[f"uv list c{conc}"] = run_sync(
                        "list tasks limit=50",
                        lambda i: client.get("/v1/tasks", params={"limit": 50}),
                        n,
                        conc,
                    )
        finally:
            api.terminate()
            bare_proc.terminate()

        print("storage alone (service calls in-process, no HTTP):")
        workspace = authenticate(ctx, key)
        request = GazeRedirectRequest.model_validate(BODY)
        for name, fn in [
            ("authenticate (2 GetItem)", lambda i: authenticate(ctx, key)),
            (
                "create_task (conditional put)",
                lambda i: create_task(ctx, workspace, TaskType.gaze_redirect, request, None),
            ),
            (
                "create_task with key (claim, put, complete)",
                lambda i: create_task(ctx, workspace, TaskType.gaze_redirect, request, f"s{i}"),
            ),
            (
                "list_tasks limit=50 (Query 51)",
                lambda i: list_tasks(ctx, workspace, task_type=None, status=None, limit=50, cursor=None),
            ),
        ]:
            latencies = []
            start = time.perf_counter()
            for i in range(nk if "with key" in name else n // 4):
                t0 = time.perf_counter()
                fn(i)
                latencies.append(time.perf_counter() - t0)
            results[name] = summarize(name, latencies, time.perf_counter() - start)

        print("overhead of auth + idempotency + storage vs the bare route (p50 ratio):")
        for mode, bare_key, create_key, list_key in [
            ("ASGI", "asgi bare", "asgi create", "asgi list"),
            ("uvicorn c=1", "uv bare c1", "uv create c1", "uv list c1"),
        ]:
            bare_p50 = results[bare_key]["p50"]
            print(
                f"  {mode:12} create {results[create_key]['p50'] / bare_p50:6.1f}x   list {results[list_key]['p50'] / bare_p50:6.1f}x"
            )


if __name__ == "__main__":
    main()
