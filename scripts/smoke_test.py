#!/usr/bin/env python3
"""Smoke test of a deployed (or local) Framelane: health, a new workspace, one upload and one task to completion.

    FRAMELANE_ADMIN_TOKEN=… python scripts/smoke_test.py --api-url https://….execute-api….amazonaws.com

Prints one JSON line per step and exits 0 only when the task completed with an output. The first render after
an idle period waits for a GPU instance and the image (minutes): the default timeout allows for that.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from framelane.client import FramelaneClient
from framelane.media.samples import make_sample_clip
from framelane.models import TaskStatus


def _say(step: str, **fields: object) -> None:
    print(json.dumps({"step": step, **fields}, default=str), flush=True)


def run(api_url: str, admin_token: str, task_type: str, timeout: float) -> bool:
    health = httpx.get(f"{api_url.rstrip('/')}/healthz", timeout=30)
    _say("health", status=health.status_code, body=health.json())
    if health.status_code != 200:
        return False
    with FramelaneClient(api_url) as anonymous:
        created = anonymous.create_workspace(f"smoke-{int(time.time())}", admin_token)
        _say("workspace", workspace_id=created.workspace_id)
    with FramelaneClient(api_url, created.api_key) as client, tempfile.TemporaryDirectory() as tmp:
        clip = make_sample_clip(Path(tmp) / "smoke.mp4")
        upload = client.create_upload()
        client.upload_file(upload, str(clip))
        _say("upload", source_url=upload.source_url, bytes=clip.stat().st_size)
        task, _ = client.create_task(
            task_type, {"source_url": upload.source_url, "metadata": {"smoke": True}}
        )
        _say("task", id=task.id, status=task.status.value)
        deadline = time.monotonic() + timeout
        while not task.status.is_terminal and time.monotonic() < deadline:
            time.sleep(2)
            task = client.get_task(task.id)
        done = task.model_dump(mode="json", include={"id", "status", "error", "output"})
        _say("result", **done)
        return task.status is TaskStatus.completed and task.output is not None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--api-url",
        default=os.environ.get("FRAMELANE_API_URL"),
        required="FRAMELANE_API_URL" not in os.environ,
    )
    parser.add_argument("--admin-token", default=os.environ.get("FRAMELANE_ADMIN_TOKEN"))
    parser.add_argument("--task-type", default="super-resolution")
    parser.add_argument(
        "--timeout", type=float, default=1200, help="seconds to wait for the task (default 1200)"
    )
    args = parser.parse_args()
    if not args.admin_token:
        parser.error("--admin-token or FRAMELANE_ADMIN_TOKEN is required (the AdminTokenSecret output)")
    return 0 if run(args.api_url, args.admin_token, args.task_type, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
