"""Renderer broker: enqueue → worker pickup latency and tasks/s through Redis Streams, 1 and 2 workers,
no-op engine (each worker only reads and ACKs). Prints figures; asserts nothing.

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

TASK_TYPE = TaskType.gaze_redirect


def worker(url: str, prefix: str, name: str, expected: int, results: mp.Queue) -> None:  # type: ignore[type-arg]
    broker = RedisBroker(url, prefix)
    latencies: list[float] = []
    first = last = 0.0
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 2.0:
        deliveries = broker.read(name, [TASK_TYPE], block_ms=200)
        for delivery in deliveries:
            picked = time.time_ns()
            first = first or picked / 1e9
            latencies.append((picked - int(delivery.message.task_token)) / 1e6)
            broker.ack(delivery)
            last = time.time_ns() / 1e9
            idle_since = time.monotonic()
    results.put((latencies, first, last))


def run(url: str, workers: int, tasks: int, rate: float | None) -> None:
    prefix = f"bench{workers}{'r' if rate else ''}:{time.time_ns()}"
    broker = RedisBroker(url, prefix)
    broker.ensure_group(TASK_TYPE)
    results: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    processes = [
        mp.Process(target=worker, args=(url, prefix, f"w{i}", tasks, results)) for i in range(workers)
    ]

    def enqueue_all() -> None:
        for i in range(tasks):
            broker.enqueue(
                RenderMessage(
                    task_id=f"task_{i}",
                    workspace_id="ws_bench",
                    task_type=TASK_TYPE,
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
    if rate is None:
        print(f"  workers={workers} backlog of {tasks}: drained at {len(latencies) / drain:8.0f} tasks/s")
    else:
        print(
            f"  workers={workers} paced {rate:g}/s: pickup p50 {statistics.median(latencies):6.2f} ms  "
            f"p99 {latencies[int(len(latencies) * 0.99) - 1]:6.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=2000)
    args = parser.parse_args()
    service = start_redis(Path(tempfile.mkdtemp(prefix="framelane-bench-")))
    try:
        print(f"Redis Streams broker, {args.tasks} tasks per row (no-op engine: read + ACK)")
        for workers in (1, 2):
            run(service.url, workers, args.tasks, rate=200)  # latency when workers keep up
            run(service.url, workers, args.tasks, rate=None)  # throughput under a burst
    finally:
        service.stop()


if __name__ == "__main__":
    main()
