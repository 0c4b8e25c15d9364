"""The demo that `make demo` runs against a fresh local stack: every API resource, end to end over HTTP."""

from __future__ import annotations

from collections.abc import Callable

from framelane.client import ApiError, FramelaneClient
from framelane.local.stack import read_state


def run_demo(api_url: str, _dev_key: str, echo: Callable[[str], None] = print) -> int:
    admin_token = read_state()["admin_token"]
    with FramelaneClient(api_url) as anonymous:
        created = anonymous.create_workspace("demo", admin_token)
    echo(f"1. workspace created: {created.workspace_id}")
    with FramelaneClient(api_url, created.api_key) as client:
        upload = client.create_upload("video/mp4")
        client.upload_file(upload, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 1024, "video/mp4")
        echo(f"2. uploaded 1 KiB through a presigned PUT → {upload.source_url}")
        body = {"source_url": upload.source_url, "metadata": {"project_id": "demo"}, "intensity": 0.8}
        job, _ = client.create_task("gaze_redirect", body, idempotency_key="demo-1")
        replay, replayed = client.create_task("gaze_redirect", body, idempotency_key="demo-1")
        echo(
            f"3. gaze-redirect task {job.id}: status={job.status}; replay returned the same id: "
            f"{replay.id == job.id and replayed}"
        )
        page = client.list_tasks(limit=10)
        echo(f"4. list: {[t.id for t in page.data]} has_more={page.has_more}")
        cancelled = client.cancel_task(job.id)
        echo(f"5. cancelled {cancelled.id}: status={cancelled.status}")
        try:
            client.cancel_task(job.id)
        except ApiError as exc:
            echo(f"6. cancelling again is refused: {exc}")
        echo(
            "Demo finished. The processing pipeline (ingest → models → webhooks) is not wired yet: tasks stay "
            "in their first status until it lands."
        )
    return 0
