"""Throughput of `framelane local` with 1, 2 and 4 worker processes: the same batch of remove-background tasks
(2 s 320×180 clips at 25 fps), no faults, through the soak harness (real stack, loopback only).

One task type per run: a mixed batch on today's broker also measures its known losses (issue 11, part A).
Prints a table: completed tasks per minute from the first POST to the last completion, p50/p95 POST → completed.
"""

from __future__ import annotations

import os
import sys

from framelane.soak import SoakConfig, run_soak

WORKERS = [int(n) for n in os.environ.get("BENCH_WORKERS", "1,2,4").split(",")]
TASKS = int(os.environ.get("BENCH_TASKS", "12"))


def main() -> int:
    rows = []
    for workers in WORKERS:
        config = SoakConfig(
            tasks=TASKS,
            workers=workers,
            worker_kills=0,
            broker_kills=0,
            api_restarts=0,
            webhook_outages=0,
            stalling_sources=0,
            missing_every=0,
            mix=("background",),
            clip=(2.0, 320, 180, 25),
            visibility_timeout=60,
            timeout=900,
        )
        report = run_soak(config, echo=lambda _: None)
        latencies = report.latencies()
        p50 = sorted(latencies)[len(latencies) // 2] if latencies else float("nan")
        p95 = sorted(latencies)[max(0, round(0.95 * len(latencies)) - 1)] if latencies else float("nan")
        rows.append((workers, len(latencies), report.wall_seconds, p50, p95, len(report.violations)))
        print(f"workers={workers} done: {len(latencies)}/{TASKS} completed", file=sys.stderr, flush=True)
    print(f"cores: {os.cpu_count()}; {TASKS} remove-background tasks, 2 s 320x180 @ 25 fps each")
    print(
        f"{'workers':>7} {'completed':>9} {'wall s':>7} {'tasks/min':>9} {'p50 s':>6} {'p95 s':>6} {'violations':>10}"
    )
    for workers, done, wall, p50, p95, violations in rows:
        print(
            f"{workers:7} {done:9} {wall:7.1f} {60 * done / wall:9.1f} {p50:6.1f} {p95:6.1f} {violations:10}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
