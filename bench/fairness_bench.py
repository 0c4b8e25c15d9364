"""Fairness between workspaces, on loopback. Prints figures; asserts nothing.

    .venv/bin/python bench/fairness_bench.py [--creations 1000] [--renders 200] [--render-seconds 0.2]
        [--create-per-minute 600 --create-burst 100]

A creation through moto costs far more than through DynamoDB (moto serializes its requests), so on a slow
machine A may not outrun the default bucket's refill (10/s): lower `--create-per-minute` to see the 429s.

1. Request rate limits (the API under uvicorn, real redis-server and moto_server, no pipeline: tasks are stored,
   not processed): workspace B trickles requests (a list every 0.2 s, a creation every second) alone, then again
   while workspace A bursts `--creations` task creations from 8 threads. Prints A's 429s, B's 429s and B's
   request p50/p95 solo and under A's burst.
2. Render scheduling (the broker on the same redis-server, `--workers` worker threads whose render is a sleep of
   `--render-seconds`): A queues `--renders` renders at once, then B queues one render per second. Prints how
   long B's renders waited for a worker, next to the same run with B's renders queued behind A's in one
   workspace (what arrival order alone, the broker before this change, would do).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

from framelane.adapters.redis_streams import RedisBroker
from framelane.api.app import create_app
from framelane.config import Settings
from framelane.local.bootstrap import bootstrap_stores
from framelane.local.processes import aws_environment, free_port, running_services
from framelane.models import RenderMessage, TaskType
from framelane.services.context import build_context
from framelane.services.workspaces import create_workspace

BODY = {"source_url": "https://cdn.example.com/presenter.mp4", "metadata": {"project_id": "bench"}}
CREATE = "/v1/tasks/gaze-redirect"


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


class Trickle:
    """Workspace B: a list every 0.2 s and a creation every second, latencies and statuses recorded."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.latencies: list[float] = []
        self.statuses: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self.stop.is_set():
            started = time.perf_counter()
            if tick % 5 == 0:
                response = self.client.post(CREATE, json=BODY)
            else:
                response = self.client.get("/v1/tasks", params={"limit": 20})
            self.latencies.append((time.perf_counter() - started) * 1000)
            self.statuses.append(response.status_code)
            tick += 1
            self.stop.wait(max(0.0, 0.2 - (time.perf_counter() - started)))


def trickle_for(client: httpx.Client, seconds: float) -> Trickle:
    trickle = Trickle(client)
    thread = threading.Thread(target=trickle.run)
    thread.start()
    time.sleep(seconds)
    trickle.stop.set()
    thread.join()
    return trickle


def rate_limits(settings: Settings, creations: int) -> None:
    ctx = build_context(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, ctx), host="127.0.0.1", port=port, log_level="error")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    key_a, key_b = (create_workspace(ctx, name).api_key for name in ("A", "B"))
    try:
        with (
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key_a}"}, timeout=30) as a,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key_b}"}, timeout=30) as b,
        ):
            b.get("/v1/tasks")  # warm
            solo = trickle_for(b, 10)

            burst_statuses: list[int] = []
            trickle = Trickle(b)
            thread = threading.Thread(target=trickle.run)
            thread.start()
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                burst_statuses = list(
                    pool.map(lambda _: a.post(CREATE, json=BODY).status_code, range(creations))
                )
            burst_seconds = time.perf_counter() - started
            time.sleep(max(0.0, 2 - burst_seconds))  # at least a couple of seconds of B under load
            trickle.stop.set()
            thread.join()
    finally:
        server.should_exit = True
    print(
        f"rate limits (create {settings.rate_limit_create_per_minute}/min, burst {settings.rate_limit_create_burst})"
    )
    print(
        f"  A: {creations} creations in {burst_seconds:.1f} s → {burst_statuses.count(202)} accepted, "
        f"{burst_statuses.count(429)} answered 429"
    )
    print(
        f"  B: {len(trickle.statuses)} requests during A's burst → {trickle.statuses.count(429)} answered 429"
    )
    print(
        f"  B latency solo:        p50 {statistics.median(solo.latencies):6.1f} ms  p95 {p95(solo.latencies):6.1f} ms"
        f"  ({len(solo.latencies)} requests)"
    )
    print(
        f"  B latency under burst: p50 {statistics.median(trickle.latencies):6.1f} ms  "
        f"p95 {p95(trickle.latencies):6.1f} ms  → p95 ratio {p95(trickle.latencies) / p95(solo.latencies):.2f}×"
    )


def scheduling(url: str, renders: int, workers: int, render_seconds: float, fair: bool) -> None:
    broker = RedisBroker(url, f"fairbench{time.time_ns()}:tasks", default_quota=8)
    queued_at: dict[str, float] = {}
    waits: list[float] = []
    stop = threading.Event()

    def work(name: str) -> None:
        while not stop.is_set():
            delivery = broker.read(name, [TaskType.gaze_redirect], block_ms=200)
            if delivery is None or delivery.message is None:
                continue
            if delivery.message.task_id.startswith("b_"):
                waits.append(time.monotonic() - queued_at[delivery.message.task_id])
            time.sleep(render_seconds)
            broker.ack(delivery)

    def enqueue(task_id: str, workspace_id: str) -> None:
        queued_at[task_id] = time.monotonic()
        broker.enqueue(
            RenderMessage(
                task_id=task_id,
                workspace_id=workspace_id,
                task_type=TaskType.gaze_redirect,
                task_token=task_id,
            )
        )

    for i in range(renders):
        enqueue(f"a_{i}", "ws_a")
    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for i in range(5):
        enqueue(f"b_{i}", "ws_b" if fair else "ws_a")
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline and len(waits) <= i:
            time.sleep(0.01)
    stop_at = time.monotonic() + renders * render_seconds / workers + 10
    while len(waits) < 5 and time.monotonic() < stop_at:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    label = "B in its own workspace (round-robin)" if fair else "B queued behind A (arrival order)"
    if waits:
        print(
            f"  {label}: B's renders waited max {max(waits):6.2f} s, mean {statistics.mean(waits):6.2f} s "
            f"({len(waits)} of 5 started; render time {render_seconds:.2f} s)"
        )
    else:
        print(f"  {label}: none of B's renders started")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creations", type=int, default=1000)
    parser.add_argument("--create-per-minute", type=int, default=600, help="The creation bucket's refill.")
    parser.add_argument("--create-burst", type=int, default=100, help="The creation bucket's size.")
    parser.add_argument("--renders", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--render-seconds", type=float, default=0.2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_services(Path(tmp)) as (redis_service, moto_service):
        os.environ.update(aws_environment(moto_service.url))
        settings = Settings(
            aws_endpoint_url=moto_service.url,
            redis_url=redis_service.url,
            rate_limit_create_per_minute=args.create_per_minute,
            rate_limit_create_burst=args.create_burst,
        )
        bootstrap_stores(build_context(settings))
        rate_limits(settings, args.creations)
        print(f"render scheduling ({args.renders} of A's renders queued first, {args.workers} workers)")
        for fair in (True, False):
            scheduling(redis_service.url, args.renders, args.workers, args.render_seconds, fair)


if __name__ == "__main__":
    main()
