"""The local stack's API under a team's load: a real `framelane local --ephemeral --workers 0` on loopback, one
client and then 32 concurrent clients creating, listing (limit 50) and getting tasks in equal thirds for a fixed
time. Prints a table next to issue 17's figures (measured before the local stack's API work); asserts nothing.

    /work/shared/tools/loopback-only .venv/bin/python bench/local_api_load_bench.py [--seconds 40] [--clients 32]

Tasks point at a loopback source that answers 404, so each one runs the real pipeline (Step Functions execution,
SQS, the pollers' ingest) to a fast `invalid_source` failure: the pipeline competes with the API as it would in
use. At the end the bench waits (bounded) for every created task to be terminal and says how many were.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from framelane.local.processes import free_port

# Issue 17, same machine (2 cores), before: p50 of one client; 32 clients over 40 s.
BEFORE = {
    "1 client create p50": "131 ms",
    "1 client get p50": "97 ms",
    "1 client list p50": "284 ms",
    "32 clients req/s": "7",
    "32 clients create p50": "3.5 s",
    "32 clients list p95": "6 s",
}
TARGET_REQUESTS_PER_SECOND = 100
TARGET = "≥100 mixed req/s at 32 clients with p95 ≤ 1 s; one client's GET p50 < 30 ms"


@contextmanager
def missing_source() -> Iterator[str]:
    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/missing.mp4"
    finally:
        server.shutdown()


@contextmanager
def local_stack(home: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"FRAMELANE_OUTBOUND_POLICY", "FRAMELANE_ALLOWED_NETWORKS"}
    }
    env["FRAMELANE_HOME"] = str(home)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "framelane.cli",
            "local",
            "--ephemeral",
            "--workers",
            "0",
            "--port",
            str(port),
        ],
        env=env,
        stdout=(home / "stack.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not (home / "local.json").exists() or "api_key" not in (home / "local.json").read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"framelane local did not start: {(home / 'stack.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not become ready")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", json.loads((home / "local.json").read_text())
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


class Load:
    def __init__(self, api: str, key: str, source: str) -> None:
        self.api, self.source = api, source
        self.headers = {"Authorization": f"Bearer {key}"}
        self.latencies: dict[str, list[float]] = {"create": [], "get": [], "list": []}
        self.errors: dict[str, int] = {}
        self.created: list[str] = []

    async def one(self, client: httpx.AsyncClient, op: str) -> None:
        started = time.perf_counter()
        if op == "create":
            body = {"source_url": self.source, "metadata": {"project_id": "bench"}}
            response = await client.post("/v1/tasks/gaze-redirect", json=body)
        elif op == "get":
            response = await client.get(f"/v1/tasks/{self.created[-1]}")
        else:
            response = await client.get("/v1/tasks", params={"limit": 50})
        elapsed = time.perf_counter() - started
        if response.status_code >= 400:
            self.errors[f"{op} {response.status_code}"] = (
                self.errors.get(f"{op} {response.status_code}", 0) + 1
            )
            return
        self.latencies[op].append(elapsed)
        if op == "create":
            self.created.append(response.json()["id"])

    async def client(self, number: int, until: float, ops: list[str]) -> None:
        async with httpx.AsyncClient(base_url=self.api, headers=self.headers, timeout=60) as client:
            turn = number
            while time.perf_counter() < until:
                await self.one(client, ops[turn % len(ops)])
                turn += 1


def stack_cpu_seconds(state: dict[str, Any]) -> dict[str, float]:
    """User + system CPU so far of each of the stack's processes: the pollers' (`framelane local`), every child."""
    processes = {"pollers": state["pid"], **state["children"]}
    used = {}
    for name, pid in processes.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return used


def own_cpu_seconds() -> float:
    """The bench client's own CPU (it shares the machine's cores with the stack)."""
    times = os.times()
    return times.user + times.system


async def wait_until_idle(state: dict[str, Any], deadline_seconds: float) -> None:
    """Until the stack's processes stop using CPU (the pipeline behind the creations has run), bounded."""
    deadline = time.monotonic() + deadline_seconds
    previous = sum(stack_cpu_seconds(state).values())
    while time.monotonic() < deadline:
        await asyncio.sleep(1)
        now = sum(stack_cpu_seconds(state).values())
        if now - previous < 0.1:  # idle pollers use a few percent of a core
            return
        previous = now


async def cpu_budget(
    load: Load, state: dict[str, Any], requests: int, clients: int
) -> dict[str, dict[str, float]]:
    """CPU milliseconds per request of each kind, per process (the stack's and the bench's own): `requests`
    requests from `clients` concurrent clients, then (creations) until the pipeline behind them is idle. CPU
    time, unlike latency, does not depend on what else the shared machine runs."""
    budget: dict[str, dict[str, float]] = {}
    for op in ("create", "get", "list"):
        await wait_until_idle(state, 30)
        stack_before, own_before = stack_cpu_seconds(state), own_cpu_seconds()
        async with httpx.AsyncClient(base_url=load.api, headers=load.headers, timeout=60) as client:
            await asyncio.gather(
                *(_requests(load, client, op, share) for share in _shares(requests, clients))
            )
        own = own_cpu_seconds() - own_before
        await wait_until_idle(state, 60)
        stack_after = stack_cpu_seconds(state)
        budget[op] = {
            name: (stack_after[name] - stack_before[name]) * 1000 / requests for name in stack_after
        }
        budget[op]["bench client"] = own * 1000 / requests
    return budget


def _shares(requests: int, clients: int) -> list[int]:
    return [requests // clients + (1 if number < requests % clients else 0) for number in range(clients)]


async def _requests(load: Load, client: httpx.AsyncClient, op: str, count: int) -> None:
    for _ in range(count):
        await load.one(client, op)


def print_budget(budget: dict[str, dict[str, float]], requests: int, clients: int) -> None:
    names = list(next(iter(budget.values())))
    print(f"\nCPU ms per request by kind ({requests} requests each, {clients} clients; creations until idle)")
    print(f"  {'':8}" + "".join(f"{name:>14}" for name in [*names, "total"]))
    for op, row in budget.items():
        cells = [*(row[name] for name in names), sum(row.values())]
        print(f"  {op:8}" + "".join(f"{value:>14.1f}" for value in cells))
    mixed = {name: sum(row[name] for row in budget.values()) / len(budget) for name in names}
    total = sum(mixed.values())
    print(
        f"  {'mixed':8}"
        + "".join(f"{value:>14.1f}" for value in [*mixed.values(), total])
        + f"   → at most ~{(os.cpu_count() or 1) * 1000 / total:.0f} req/s on {os.cpu_count()} idle cores"
    )
    budget_ms = (os.cpu_count() or 1) * 1000 / TARGET_REQUESTS_PER_SECOND
    print(
        f"  the target's budget: {TARGET_REQUESTS_PER_SECOND} req/s on {os.cpu_count()} cores leaves {budget_ms:.0f} ms "
        f"of CPU per mixed request for every process; the API and the bench's client alone use "
        f"{mixed['api'] + mixed['bench client']:.1f} ms, the emulator (moto) {mixed['moto']:.1f} ms, the "
        f"pipeline's pollers {mixed['pollers']:.1f} ms"
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000 if ordered else float("nan")


async def run(load: Load, clients: int, seconds: float, ops: list[str]) -> float:
    for op in load.latencies:
        load.latencies[op].clear()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(load.client(number, until, ops) for number in range(clients)))
    return time.perf_counter() - started


def fmt(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


async def main_async(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="framelane-bench-") as home,
        missing_source() as source,
        local_stack(Path(home)) as (api, state),
    ):
        load = Load(api, state["api_key"], source)
        async with httpx.AsyncClient(base_url=api, headers=load.headers, timeout=60) as client:
            await load.one(client, "create")  # a task to GET
        rows: list[tuple[str, str, str]] = []
        for op in ("create", "get", "list"):
            await run(load, 1, args.single_seconds, [op])
            p50 = fmt(percentile(load.latencies[op], 0.5))
            rows.append((f"1 client {op} p50", p50, BEFORE[f"1 client {op} p50"]))
        if args.budget_requests:
            print_budget(
                await cpu_budget(load, state, args.budget_requests, args.budget_clients),
                args.budget_requests,
                args.budget_clients,
            )
            await wait_until_idle(state, 30)
        cpu_before = stack_cpu_seconds(state)
        wall = await run(load, args.clients, args.seconds, ["create", "list", "get"])
        cpu_after = stack_cpu_seconds(state)
        by_process = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
        cpu = sum(by_process.values())
        every = [value for values in load.latencies.values() for value in values]
        rows.append((f"{args.clients} clients req/s", f"{len(every) / wall:.0f}", BEFORE["32 clients req/s"]))
        rows.append((f"{args.clients} clients p95 (all)", fmt(percentile(every, 0.95)), "-"))
        for op in ("create", "get", "list"):
            for name, fraction in (("p50", 0.5), ("p95", 0.95)):
                before = BEFORE.get(f"32 clients {op} {name}", "-")
                rows.append(
                    (
                        f"{args.clients} clients {op} {name}",
                        fmt(percentile(load.latencies[op], fraction)),
                        before,
                    )
                )
        print(
            f"\nlocal API load ({args.clients} clients × {args.seconds:.0f} s mixed, "
            f"after 1 client × {args.single_seconds:.0f} s per operation)"
        )
        print(f"  {'':28} {'now':>10} {'issue 17 (before)':>18}")
        for name, now, before in rows:
            print(f"  {name:28} {now:>10} {before:>18}")
        print(f"  target: {TARGET}")
        print("  load average (1, 5, 15 min) at the end: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
        per_request = cpu / max(1, len(every)) * 1000
        print(
            f"  the stack's CPU per mixed request: {per_request:.1f} ms (all its processes, {cpu:.1f} s over "
            f"{len(every)} requests): on {os.cpu_count()} idle cores at most ~{(os.cpu_count() or 1) * 1000 / per_request:.0f} "
            "req/s; this machine's other load shows in the latencies above, not here"
        )
        shares = ", ".join(
            f"{name} {seconds / max(1, len(every)) * 1000:.1f} ms" for name, seconds in by_process.items()
        )
        print(f"  per process: {shares}")
        if load.errors:
            print(f"  errors: {load.errors}")
        await report_terminal(load, args.drain_seconds)


async def report_terminal(load: Load, drain_seconds: float) -> None:
    """Every created task should end (here: invalid_source); the wait is bounded."""
    deadline = time.monotonic() + drain_seconds
    pending = set(load.created)
    async with httpx.AsyncClient(base_url=load.api, headers=load.headers, timeout=60) as client:
        while pending and time.monotonic() < deadline:
            for task_id in list(pending)[:200]:
                task = (await client.get(f"/v1/tasks/{task_id}")).json()
                if task["status"] in {"completed", "failed", "cancelled"}:
                    pending.discard(task_id)
            if pending:
                await asyncio.sleep(1)
    print(f"  tasks created: {len(load.created)}, terminal after the run: {len(load.created) - len(pending)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--single-seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--drain-seconds", type=float, default=180)
    parser.add_argument(
        "--budget-requests", type=int, default=200, help="per kind, for the CPU budget table (0: skip it)"
    )
    parser.add_argument("--budget-clients", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
