"""Progress carries an estimate of the time left that matches when the task really ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from framelane.media.samples import make_sample_clip
from framelane.services.context import ServiceContext
from tests.support.servers import LoopbackServer, loopback_server

from .pipeline_helpers import thread_worker, wait_for_task


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[LoopbackServer]:
    with loopback_server() as server:
        server.serve_bytes("/clip.mp4", make_sample_clip(tmp_path / "clip.mp4", seconds=2).read_bytes())
        yield server


def test_estimated_seconds_remaining_predicts_the_end(
    papi: httpx.Client, pipeline_ctx: ServiceContext, origin: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAMELANE_TEST_ENGINE_DELAY", "0.1")  # 50 frames → ~5 s of work
    with thread_worker(pipeline_ctx, "eta"):
        created = papi.post("/v1/tasks/super-resolution", json={"source_url": origin.url + "/clip.mp4"})
        task_id = created.json()["id"]
        task = wait_for_task(papi, task_id, until={"processing"}, timeout=60)
        predictions: list[tuple[float, int]] = []  # (when read, seconds left)
        deadline = time.monotonic() + 60
        while task["status"] == "processing" and time.monotonic() < deadline:
            if task["estimated_seconds_remaining"] is not None and task["progress_stage"] == "compositing":
                predictions.append((time.monotonic(), task["estimated_seconds_remaining"]))
            time.sleep(0.1)
            task = papi.get(f"/v1/tasks/{task_id}").json()
        ended = time.monotonic()
    assert task["status"] == "completed" and task["estimated_seconds_remaining"] is None, task
    assert len({seconds for _, seconds in predictions}) >= 2, predictions  # it counts down
    # whole seconds, rounded up, written every 0.5 s and read every 0.1 s; encoding and upload come after
    errors = [read + seconds - ended for read, seconds in predictions]
    assert all(-2.0 <= error <= 2.0 for error in errors), errors
