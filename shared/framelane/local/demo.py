"""The demo that `make demo` runs against a fresh local stack: a real task, end to end, over HTTP."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from framelane.client import FramelaneClient
from framelane.local.stack import STATE_FILE, read_state
from framelane.media.probe import probe
from framelane.media.samples import make_sample_clip


def run_demo(api_url: str, _dev_key: str, echo: Callable[[str], None] = print) -> int:
    admin_token = read_state()["admin_token"]
    with FramelaneClient(api_url) as anonymous:
        created = anonymous.create_workspace("demo", admin_token)
    echo(f"1. workspace {created.workspace_id} created")
    with FramelaneClient(api_url, created.api_key) as client, tempfile.TemporaryDirectory() as workdir:
        clip = make_sample_clip(Path(workdir) / "clip.mp4", seconds=2, width=320, height=180)
        upload = client.create_upload("video/mp4")
        client.upload_file(upload, str(clip))
        echo(f"2. a 2 s 320×180 clip (with audio) uploaded through a presigned PUT → {upload.source_url}")
        body = {
            "source_url": upload.source_url,
            "scale": 2,
            "mode": "fast",
            "metadata": {"project_id": "demo"},
        }
        task, _ = client.create_task("super_resolution", body, idempotency_key="demo-1")
        replay, replayed = client.create_task("super_resolution", body, idempotency_key="demo-1")
        echo(
            f"3. super-resolution task {task.id} ({task.status}); idempotent replay → same task: "
            f"{replayed and replay.id == task.id}"
        )
        deadline = time.monotonic() + 120
        while not task.status.is_terminal and time.monotonic() < deadline:
            time.sleep(0.5)
            task = client.get_task(task.id)
            echo(f"   {task.status:10} {task.progress_stage or '':12} {task.progress_percent:3d}%")
        if task.status != "completed" or task.output is None:
            echo(f"demo task ended {task.status}: {task.error}")
            return 1
        target = STATE_FILE.parent / "demo-output.mp4"
        size = client.download(task.output.url, str(target))
        media = probe(str(target))
        echo(
            f"4. completed: {task.output.width}×{task.output.height}, {task.output.duration} s, {size} bytes → {target}"
        )
        echo(f"   probed: {media.width}×{media.height} @ {media.fps} fps, audio kept: {media.has_audio}")
        page = client.list_tasks(limit=10)
        echo(f"5. list: {[(t.id, t.status.value) for t in page.data]}")
    return 0
