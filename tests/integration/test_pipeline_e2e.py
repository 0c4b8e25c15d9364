"""A real source over loopback HTTP → ingest → Step Functions (moto) → Redis → worker → S3 → webhook."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
import standardwebhooks

from framelane.media.probe import probe
from framelane.media.samples import make_sample_clip
from framelane.services.context import ServiceContext
from tests.support.servers import LoopbackServer, loopback_server

from .pipeline_helpers import thread_worker, wait_for_task

ROUTES = {
    "remove_background": "/v1/tasks/remove-background",
    "gaze_redirect": "/v1/tasks/gaze-redirect",
    "super_resolution": "/v1/tasks/super-resolution",
}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_sample_clip(
        tmp_path_factory.mktemp("media") / "clip.mp4", seconds=1, width=160, height=120
    ).read_bytes()


@pytest.fixture
def origin() -> LoopbackServer:
    with loopback_server() as server:
        yield server


def _first_frame(data: bytes, suffix: str, tmp_path: Path) -> tuple[np.ndarray, int]:
    path = tmp_path / f"out.{suffix}"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[0], len(frames)


@pytest.mark.parametrize("task_type", list(ROUTES))
def test_renderer_task_completes_with_output_and_signed_webhook(
    task_type: str,
    papi: httpx.Client,
    pipeline_ctx: ServiceContext,
    origin: LoopbackServer,
    clip: bytes,
    tmp_path: Path,
) -> None:
    source = origin.serve_bytes("/clip.mp4", clip)
    hook = origin.respond("/hook", lambda _: (200, {}, b"ok"))
    created = papi.post(
        ROUTES[task_type], json={"source_url": source, "webhook_url": hook, "metadata": {"k": "v"}}
    )
    assert created.status_code == 202, created.text
    task_id = created.json()["id"]
    with thread_worker(pipeline_ctx):
        task = wait_for_task(papi, task_id)
    assert task["status"] == "completed", task
    assert task["progress_percent"] == 100 and task["completed_at"]
    output = task["output"]
    assert (output["width"], output["height"]) == (160, 120)
    assert output["duration"] == pytest.approx(1.0, abs=0.1)
    data = httpx.get(output["url"]).content
    assert len(data) == output["size_bytes"] > 0
    suffix = "webm" if task_type == "remove_background" else "mp4"
    frame, count = _first_frame(data, suffix, tmp_path)
    assert count == 25
    assert probe(str(tmp_path / f"out.{suffix}")).has_audio  # the source's audio track is kept
    source_frame, _ = _first_frame(clip, "mp4", tmp_path)
    # the test engine negates colours: the output is the negative of the source (up to codec loss)
    assert np.abs(frame.astype(int) - (255 - source_frame.astype(int))).mean() < 12

    deliveries = [r for r in origin.received("/hook") if json.loads(r.body)["type"] == "task.completed"]
    assert len(deliveries) == 1
    secret = papi.get("/v1/webhooks/signing-secret").json()["secret"]
    payload = standardwebhooks.Webhook(secret).verify(deliveries[0].body, deliveries[0].headers)
    assert payload["data"]["id"] == task_id and payload["data"]["metadata"] == {"k": "v"}
    assert payload["id"] == deliveries[0].headers["webhook-id"]


@pytest.mark.parametrize("output_format", ["mov", "png"])
def test_remove_background_delivers_mov_and_png_through_the_api(
    output_format: str,
    papi: httpx.Client,
    pipeline_ctx: ServiceContext,
    origin: LoopbackServer,
    clip: bytes,
    tmp_path: Path,
) -> None:
    source = origin.serve_bytes("/clip.mp4", clip)
    created = papi.post(
        ROUTES["remove_background"], json={"source_url": source, "output_format": output_format}
    )
    assert created.status_code == 202, created.text
    with thread_worker(pipeline_ctx):
        task = wait_for_task(papi, created.json()["id"])
    assert task["status"] == "completed", task
    assert task["options"]["output_format"] == output_format
    output = task["output"]
    assert (output["width"], output["height"]) == (160, 120)
    download = httpx.get(output["url"])
    data = download.content
    assert len(data) == output["size_bytes"] > 0
    if output_format == "mov":
        assert download.headers["content-type"] == "video/quicktime"
        path = tmp_path / "out.mov"
        path.write_bytes(data)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert container.format.name.startswith("mov")
            assert stream.codec_context.name == "prores" and stream.codec_context.pix_fmt.startswith(
                "yuva444"
            )
            frames = [f.to_ndarray(format="rgba") for f in container.decode(video=0)]
            assert container.streams.audio  # ProRes MOV keeps the source's audio (PCM)
    else:
        assert download.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = sorted(archive.namelist())
            assert all(name.endswith(".png") for name in names)
            frames = [
                next(av.open(io.BytesIO(archive.read(name))).decode(video=0)).to_ndarray(format="rgba")
                for name in names
            ]
    assert len(frames) == 25 and frames[0].shape == (120, 160, 4)
    source_frame, _ = _first_frame(clip, "mp4", tmp_path)
    # the test engine's frames (the source's negative, opaque) are what the container holds
    assert np.abs(frames[0][..., :3].astype(int) - (255 - source_frame.astype(int))).mean() < 12
