"""Renderer broker: enqueue → worker pickup latency and tasks/s through Redis Streams, 1 and 2 workers,
one task type and all three (the worker reads one stream at a time, in turn), no-op engine (each worker only
reads and ACKs). Prints figures; asserts nothing.

    .venv/bin/python bench/broker_bench.py [--tasks 2000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path

from framelane.adapters.redis_streams import RedisBroker
from framelane.local.processes import start_redis
from framelane.models import RenderMessage, TaskType

RENDERERS = [t for t in TaskType if t.is_renderer]


def worker(url: str, prefix: str, name: str, types: list[TaskType], results: mp.Queue) -> None:  # type: ignore[type-arg]
    broker = RedisBroker(url, prefix)
    latencies: list[float] = []
    first = last = 0.0
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 2.0:
        delivery = broker.read(name, types, block_ms=1000)
        if delivery is not None and delivery.message is not None:
            picked = time.time_ns()
            first = first or picked / 1e9
            latencies.append((picked - int(delivery.message.task_token)) / 1e6)
            broker.ack(delivery)
            last = time.time_ns() / 1e9
            idle_since = time.monotonic()
    results.put((latencies, first, last))


def run(url: str, workers: int, tasks: int, rate: float | None, types: list[TaskType]) -> None:
    prefix = f"bench{workers}{'r' if rate else ''}:{time.time_ns()}"
    broker = RedisBroker(url, prefix)
    results: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    processes = [
        mp.Process(target=worker, args=(url, prefix, f"w{i}", types, results)) for i in range(workers)
    ]

    def enqueue_all() -> None:
        for i in range(tasks):
            broker.enqueue(
                RenderMessage(
                    task_id=f"task_{i}",
                    workspace_id="ws_bench",
                    task_type=types[i % len(types)],
                    task_token=str(time.time_ns()),
                )
            )
            if rate:
                time.sleep(1 / rate)

    if rate is None:
        enqueue_all()  # a backlog first: the workers drain it as fast as they can
    for process in processes:
        process.start()
    if rate is not None:
        time.sleep(0.5)
        enqueue_all()
    reports = [results.get() for _ in processes]
    for process in processes:
        process.join()
    latencies = sorted(value for report in reports for value in report[0])
    drain = max(r[2] for r in reports) - min(r[1] for r in reports if r[1])
    label = f"workers={workers} types={len(types)}"
    if rate is None:
        print(f"  {label} backlog of {tasks}: drained at {len(latencies) / drain:8.0f} tasks/s")
    else:
        print(
            f"  {label} paced {rate:g}/s: pickup p50 {statistics.median(latencies):6.2f} ms  "
            f"p99 {latencies[int(len(latencies) * 0.99) - 1]:6.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=2000)
    args = parser.parse_args()
    service = start_redis(Path(tempfile.mkdtemp(prefix="framelane-bench-")))
    try:
        print(f"Redis Streams broker, {args.tasks} tasks per row (no-op engine: read + ACK)")
        for types in ([TaskType.gaze_redirect], RENDERERS):
            for workers in (1, 2):
                run(service.url, workers, args.tasks, rate=200, types=types)  # latency when workers keep up
                run(service.url, workers, args.tasks, rate=None, types=types)  # throughput under a burst
    finally:
        service.stop()


if __name__ == "__main__":
    main()
