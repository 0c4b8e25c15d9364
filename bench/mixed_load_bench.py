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
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.in_process_stack import in_process_stack
from framelane.media.samples import make_sample_clip

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
    posted: dict[str, float] = {}
    ended: dict[str, dict[str, Any]] = {}
    with in_process_stack(workdir, clip) as stack:
        api = stack.api
        for i in range(args.tasks):
            route, options = REQUESTS[i % len(REQUESTS)]
            task_id = api.post(route, json={"source_url": stack.source_url, **options}).json()["id"]
            posted[task_id] = time.perf_counter()
        deadline = time.perf_counter() + 1800
        while len(ended) < len(posted) and time.perf_counter() < deadline:
            for task_id in set(posted) - set(ended):
                task = api.get(f"/v1/tasks/{task_id}").json()
                if task["status"] in {"completed", "failed", "cancelled"}:
                    ended[task_id] = {**task, "seconds": time.perf_counter() - posted[task_id]}
            time.sleep(0.5)
    outcomes = collections.Counter(
        (task["task_type"], task["status"], (task["error"] or {}).get("code")) for task in ended.values()
    )
    print(f"{args.tasks} tasks over 3 renderer types submitted together, 1 worker, 4 s 176×144 clips")
    for (task_type, status, code), count in sorted(outcomes.items(), key=str):
        print(f"  {task_type:18} {status:10} {code or '':14} {count:3}")
    print(f"  not terminal after 30 min: {len(posted) - len(ended)}")
    seconds = sorted(float(task["seconds"]) for task in ended.values())
    if seconds:
        print(
            f"  POST → terminal: p50 {statistics.median(seconds):.1f} s, "
            f"p95 {seconds[max(int(len(seconds) * 0.95) - 1, 0)]:.1f} s, max {seconds[-1]:.1f} s"
        )


if __name__ == "__main__":
    main()
