"""Fairness between workspaces, on loopback. Prints figures; asserts nothing.

    .venv/bin/python bench/fairness_bench.py [--creations 1000] [--renders 200] [--render-seconds 0.2]
        [--solo-seconds 30]
        [--create-per-minute 600 --create-burst 100] [--a-create-per-minute 120 --a-create-burst 20]

A creation through moto costs far more than through DynamoDB (moto serializes its requests), so A's 8 clients
do not outrun the default bucket's refill (10/s) on this machine: by default the bench gives A a smaller bucket
through the operator API (`--a-create-per-minute`, `--a-create-burst`), as an operator would for a noisy
workspace, so A's burst runs past it and gets 429s. It prints the limits it used.

1. Request rate limits (the API in its own process under uvicorn, as `framelane local` runs it, real
   redis-server and moto_server, no pipeline: tasks are stored, not processed): workspace B trickles requests
   (a list every 0.2 s, a creation every second) alone for `--solo-seconds` (as long as A's burst; B first
   stores more than a page of tasks, so that all its lists return as many), then again while workspace A bursts
   `--creations` task creations from 8 threads in another process. Prints A's 429s, B's 429s and B's request p50/p95 solo and
   under A's burst (over the burst and the seconds around it, and over B's requests started while it ran). The API
   holds a refusal it already knows until the token is back (at most 0.25 s; docs/OPERATIONS.md), so A's 8
   threads, which ask again at once, take about half a minute for their 1,000 creations. For reference it then
   prints B's latency while a third workspace with A's limits makes only the creations those limits admit, for
   as long: the part of A's load no handling of refusals can take away.
2. Render scheduling (the broker on the same redis-server, `--workers` worker threads whose render is a sleep of
   `--render-seconds`): A queues `--renders` renders at once, then B queues five renders, each as soon as its
   last one started (at most a second apart). The workers run in step, so B's render is queued just after they
   began A's next renders: it waits about one whole render time, the worst case. Prints how long B's renders
   waited for a worker, and how long from a worker's slot freeing to B's render starting (the broker's
   hand-off), next to the same run with B's renders queued behind A's in one workspace (what arrival order
   alone, the broker before this change, would do).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import statistics
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import httpx

from framelane.adapters.redis_streams import RedisBroker
from framelane.config import Settings
from framelane.local.bootstrap import bootstrap_stores
from framelane.local.processes import aws_environment, free_port, running_services, start_api
from framelane.models import RenderMessage, TaskType
from framelane.services.context import build_context
from framelane.services.workspaces import create_workspace

BODY = {"source_url": "https://cdn.example.com/presenter.mp4", "metadata": {"project_id": "bench"}}
CREATE = "/v1/tasks/gaze-redirect"
LIST_PAGE = 20
"""B's lists ask for this many tasks. A list's cost grows with the tasks it returns, so B stores more than a page
before its solo baseline: otherwise the baseline's first lists return fewer tasks than those under A's burst."""


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


class Trickle:
    """Workspace B: a list every 0.2 s and a creation every second, latencies and statuses recorded."""

    CREATE_EVERY = 5

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.latencies: list[float] = []
        self.statuses: list[int] = []
        self.started: list[float] = []
        self.stop = threading.Event()

    def creations(self) -> list[float]:
        return self.latencies[:: self.CREATE_EVERY]

    def lists(self) -> list[float]:
        return [latency for tick, latency in enumerate(self.latencies) if tick % self.CREATE_EVERY]

    def run(self) -> None:
        tick = 0
        while not self.stop.is_set():
            started = time.perf_counter()
            if tick % self.CREATE_EVERY == 0:
                response = self.client.post(CREATE, json=BODY)
            else:
                response = self.client.get("/v1/tasks", params={"limit": LIST_PAGE})
            self.latencies.append((time.perf_counter() - started) * 1000)
            self.statuses.append(response.status_code)
            self.started.append(time.monotonic() - (time.perf_counter() - started))
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU so far of a process and its children (uvicorn's workers); CPU time, unlike latency,
    does not depend on what else the machine runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def burst(url: str, key: str, creations: int) -> tuple[list[int], float, float]:
    """Workspace A's burst, in a process of its own: `creations` creations from 8 threads. Returns the statuses
    and when the burst started and ended (on the monotonic clock, which processes share)."""
    with (
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as a,
        ThreadPoolExecutor(8) as pool,
    ):
        started = time.monotonic()
        statuses = list(pool.map(lambda _: a.post(CREATE, json=BODY).status_code, range(creations)))
        return statuses, started, time.monotonic()


def admitted_only(
    url: str, key: str, burst_size: int, per_minute: int, seconds: float
) -> tuple[float, float]:
    """What A's bucket admits of its burst, without the refused rest: `burst_size` creations from 8 threads, then
    one each refill interval until `seconds` have passed. The reference for B's latency: the share of A's work
    that no refusal handling can take away. Returns when it started and ended."""
    with (
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as a,
        ThreadPoolExecutor(8) as pool,
    ):
        started = time.monotonic()
        list(pool.map(lambda _: a.post(CREATE, json=BODY), range(burst_size)))
        while time.monotonic() - started < seconds:
            time.sleep(60 / per_minute)
            a.post(CREATE, json=BODY)
        return started, time.monotonic()


def while_running(trickle: Trickle, start: float, end: float) -> list[float]:
    return [
        latency
        for started, latency in zip(trickle.started, trickle.latencies, strict=True)
        if start <= started <= end
    ]


def p95_ms(latencies: list[float]) -> str:
    return f"p50 {statistics.median(latencies):6.1f} ms  p95 {p95(latencies):6.1f} ms  ({len(latencies)} requests)"


def rate_limits(
    settings: Settings,
    log_dir: Path,
    creations: int,
    a_limits: dict[str, int],
    api_workers: int,
    solo_seconds: float,
) -> None:
    """The API in its own process, as `framelane local` runs it, and A's burst in another: the API's CPU is
    shared with A's clients only through the machine, not through one interpreter's lock (the bench's clients
    are elsewhere in any real deployment). B's latency under the burst is printed twice: over A's burst and the
    seconds around it (as before), and over the requests B started while A's burst ran."""
    ctx = build_context(settings)
    workspace_a, workspace_b, workspace_c = (create_workspace(ctx, name) for name in ("A", "B", "C"))
    api = start_api(log_dir, free_port(), workers=api_workers)
    try:
        admin = {"Authorization": f"Bearer {settings.admin_token}"}
        for noisy in (workspace_a, workspace_c):
            httpx.patch(
                f"{api.url}/admin/workspaces/{noisy.workspace_id}/limits", json=a_limits, headers=admin
            ).raise_for_status()
        with httpx.Client(
            base_url=api.url, headers={"Authorization": f"Bearer {workspace_b.api_key}"}, timeout=30
        ) as b:
            for _ in range(LIST_PAGE + 1):  # every list B makes reads a full page (LIST_PAGE)
                b.post(CREATE, json=BODY).raise_for_status()
            solo = trickle_for(b, solo_seconds)
            trickle = Trickle(b)
            thread = threading.Thread(target=trickle.run)
            thread.start()
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as other:
                other.submit(time.sleep, 0).result()  # the process is up before the API's CPU is counted
                api_cpu = cpu_seconds(api.process.pid)
                burst_statuses, burst_start, burst_end = other.submit(
                    burst, api.url, workspace_a.api_key, creations
                ).result()
                api_cpu = cpu_seconds(api.process.pid) - api_cpu
            burst_seconds = burst_end - burst_start
            time.sleep(max(0.0, 2 - burst_seconds))  # at least a couple of seconds of B under load
            trickle.stop.set()
            thread.join()
            reference = Trickle(b)
            thread = threading.Thread(target=reference.run)
            thread.start()
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as other:
                other.submit(time.sleep, 0).result()
                admitted_start, admitted_end = other.submit(
                    admitted_only,
                    api.url,
                    workspace_c.api_key,
                    a_limits["create_burst"],
                    a_limits["create_per_minute"],
                    burst_seconds,
                ).result()
            reference.stop.set()
            thread.join()
    finally:
        api.stop()
    during = while_running(trickle, burst_start, burst_end)
    admitted = while_running(reference, admitted_start, admitted_end)
    print(
        f"rate limits ({api_workers} API process(es)): "
        f"A create {a_limits['create_per_minute']}/min, burst {a_limits['create_burst']} "
        f"(operator override); B the defaults, create {settings.rate_limit_create_per_minute}/min, burst "
        f"{settings.rate_limit_create_burst}, requests {settings.rate_limit_requests_per_minute}/min"
    )
    print(
        f"  A: {creations} creations in {burst_seconds:.1f} s → {burst_statuses.count(202)} accepted, "
        f"{burst_statuses.count(429)} answered 429"
    )
    print(
        f"  B: {len(trickle.statuses)} requests during A's burst → {trickle.statuses.count(429)} answered 429"
    )
    print(f"  B latency solo:                  {p95_ms(solo.latencies)}")
    for label, run in (("solo", solo), ("under burst", trickle), ("beside C", reference)):
        print(f"    {label:<12} creations {p95_ms(run.creations())} | lists {p95_ms(run.lists())}")
    print(
        f"  B latency under burst:           {p95_ms(trickle.latencies)}  → p95 ratio "
        f"{p95(trickle.latencies) / p95(solo.latencies):.2f}×  (A's burst and the seconds around it)"
    )
    if len(during) >= 2:
        print(
            f"  B latency while A's burst ran:   {p95_ms(during)}  → p95 ratio "
            f"{p95(during) / p95(solo.latencies):.2f}×"
        )
    if len(admitted) >= 2:
        print(
            f"  B latency while workspace C, with A's limits, made only the creations they admit (no refusals), "
            f"as long: {p95_ms(admitted)}  → p95 ratio {p95(admitted) / p95(solo.latencies):.2f}×"
        )
    print(
        f"  the API's CPU during A's burst: {api_cpu:.1f} s, {api_cpu * 1000 / (creations + len(trickle.statuses)):.1f} ms "
        "per request (A's and B's)"
    )
    print("  load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


def scheduling(url: str, renders: int, workers: int, render_seconds: float, fair: bool) -> None:
    broker = RedisBroker(url, f"fairbench{time.time_ns()}:tasks", default_quota=8)
    queued_at: dict[str, float] = {}
    waits: list[float] = []
    handoffs: list[float] = []
    stop = threading.Event()

    def work(name: str) -> None:
        freed_at = 0.0  # when this worker's last render ended: from then on its slot was free
        while not stop.is_set():
            delivery = broker.read(name, [TaskType.gaze_redirect], block_ms=200)
            if delivery is None or delivery.message is None:
                continue
            if delivery.message.task_id.startswith("b_"):
                started = time.monotonic()
                queued = queued_at[delivery.message.task_id]
                waits.append(started - queued)
                handoffs.append(started - max(queued, freed_at))
            time.sleep(render_seconds)
            broker.ack(delivery)
            freed_at = time.monotonic()

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
            f"  {label}: B's renders waited max {max(waits) * 1000:7.1f} ms, mean {statistics.mean(waits) * 1000:7.1f} "
            f"ms ({len(waits)} of 5 started; render time {render_seconds * 1000:.0f} ms, so max "
            f"{(max(waits) - render_seconds) * 1000:+.1f} ms over it)"
        )
        print(
            f"    from the worker's slot freeing (or B's render queued, if later) to B's render starting: max "
            f"{max(handoffs) * 1000:.1f} ms, mean {statistics.mean(handoffs) * 1000:.1f} ms"
        )
    else:
        print(f"  {label}: none of B's renders started")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creations", type=int, default=1000)
    parser.add_argument("--create-per-minute", type=int, default=600, help="The default creation refill.")
    parser.add_argument("--create-burst", type=int, default=100, help="The default creation bucket's size.")
    parser.add_argument(
        "--a-create-per-minute",
        type=int,
        default=120,
        help="A's creation refill, set through the operator API: below what A's burst asks for, so A gets 429s.",
    )
    parser.add_argument("--a-create-burst", type=int, default=20, help="A's creation bucket's size.")
    parser.add_argument(
        "--solo-seconds",
        type=float,
        default=30,
        help="B's solo baseline: about as long as A's burst, so both p95s rest on as many requests.",
    )
    parser.add_argument("--api-workers", type=int, default=1, help="API processes (uvicorn workers).")
    parser.add_argument("--renders", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--render-seconds", type=float, default=0.2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_services(Path(tmp)) as (redis_service, moto_service):
        os.environ.update(
            {
                **aws_environment(moto_service.url),
                "FRAMELANE_REDIS_URL": redis_service.url,
                "FRAMELANE_ADMIN_TOKEN": secrets.token_urlsafe(16),
                "FRAMELANE_RATE_LIMIT_CREATE_PER_MINUTE": str(args.create_per_minute),
                "FRAMELANE_RATE_LIMIT_CREATE_BURST": str(args.create_burst),
            }
        )
        settings = Settings()
        bootstrap_stores(build_context(settings))
        a_limits = {"create_per_minute": args.a_create_per_minute, "create_burst": args.a_create_burst}
        rate_limits(settings, Path(tmp), args.creations, a_limits, args.api_workers, args.solo_seconds)
        print(f"render scheduling ({args.renders} of A's renders queued first, {args.workers} workers)")
        for fair in (True, False):
            scheduling(redis_service.url, args.renders, args.workers, args.render_seconds, fair)


if __name__ == "__main__":
    main()
