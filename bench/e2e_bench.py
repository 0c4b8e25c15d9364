"""End-to-end local latency: POST → task.completed webhook for a 2 s 360p clip (fast super-resolution ×2),
broken down by stage, through the real local stack pieces (moto Step Functions, SQS pollers, Redis, a worker).
Prints figures; asserts nothing.

    .venv/bin/python bench/e2e_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.in_process_stack import in_process_stack
from framelane.media.samples import make_sample_clip

STAGES = [
    "ingesting",
    "queued",
    "processing/downloading",
    "processing/compositing",
    "processing/encoding",
    "processing/uploading",
    "completed",
    "webhook",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="framelane-bench-"))
    clip = make_sample_clip(workdir / "clip.mp4", seconds=2, width=640, height=360).read_bytes()
    rows: list[dict[str, float]] = []
    with in_process_stack(workdir, clip) as stack:
        arrivals: dict[str, float] = {}

        def hook(recorded):  # type: ignore[no-untyped-def]
            body = json.loads(recorded.body)
            if body["type"] == "task.completed":
                arrivals[body["data"]["id"]] = time.perf_counter()
            return 200, {}, b""

        webhook = stack.origin.respond("/hook", hook)
        api = stack.api
        for _ in range(args.runs):
            start = time.perf_counter()
            task = api.post(
                "/v1/tasks/super-resolution",
                json={"source_url": stack.source_url, "scale": 2, "mode": "fast", "webhook_url": webhook},
            ).json()
            seen: dict[str, float] = {}
            while task["id"] not in arrivals and time.perf_counter() - start < 120:
                state = task["status"] + (
                    f"/{task['progress_stage']}" if task["status"] == "processing" else ""
                )
                seen.setdefault(state, time.perf_counter() - start)
                time.sleep(0.01)
                task = api.get(f"/v1/tasks/{task['id']}").json()
            seen.setdefault("completed", time.perf_counter() - start)
            seen["webhook"] = arrivals[task["id"]] - start
            rows.append(seen)
    print(
        f"POST → task.completed webhook, 2 s 360p clip, fast super-resolution ×2, {args.runs} runs "
        "(first time each state was observed, polling every 10 ms; median seconds since POST)"
    )
    previous = 0.0
    for stage in STAGES:
        values = [row[stage] for row in rows if stage in row]
        if not values:
            continue
        median = statistics.median(values)
        print(f"  {stage:26} at {median:6.2f} s   (+{median - previous:5.2f} s)")
        previous = median
    print(
        f"  total to webhook: median {statistics.median(r['webhook'] for r in rows):.2f} s, "
        f"min {min(r['webhook'] for r in rows):.2f} s, max {max(r['webhook'] for r in rows):.2f} s"
    )


if __name__ == "__main__":
    main()
