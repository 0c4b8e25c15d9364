"""Ingest failures, the address guard on every hop (canaries on 127.0.0.2 and ::1 must see nothing)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from framelane.media.samples import make_sample_clip
from framelane.models import WebhookEvent
from framelane.services.notify import event_id
from tests.support.servers import LoopbackServer, loopback_server

from .pipeline_helpers import wait_for_task

ROUTE = "/v1/tasks/gaze-redirect"


@pytest.fixture
def origin() -> Iterator[LoopbackServer]:
    with loopback_server() as server:
        yield server


@pytest.fixture
def canaries() -> Iterator[list[LoopbackServer]]:
    with loopback_server("127.0.0.2") as v4, loopback_server("::1") as v6:
        v4.serve_bytes("/clip.mp4", b"canary")
        v6.serve_bytes("/clip.mp4", b"canary")
        yield [v4, v6]
        assert v4.requests == [] and v6.requests == [], "a canary received a request"


def _fails_with(papi: httpx.Client, source: str, code: str) -> dict[str, object]:
    created = papi.post(ROUTE, json={"source_url": source})
    assert created.status_code == 202, created.text
    task = wait_for_task(papi, created.json()["id"])
    assert task["status"] == "failed", task
    assert task["error"]["code"] == code, task["error"]
    assert task["output"] is None and task["completed_at"]
    return task


def test_404_source(papi: httpx.Client, origin: LoopbackServer) -> None:
    task = _fails_with(papi, origin.url + "/missing.mp4", "invalid_source")
    assert task["error"]["message"] == "Source URL returned 404."  # type: ignore[index]


def test_non_media_bytes(papi: httpx.Client, origin: LoopbackServer) -> None:
    _fails_with(papi, origin.serve_bytes("/notes.mp4", b"this is not a video " * 500), "invalid_source")


def test_oversize_source(papi: httpx.Client, origin: LoopbackServer) -> None:
    _fails_with(papi, origin.serve_bytes("/big.mp4", b"\0" * 3_500_000), "source_too_large")


def test_source_longer_than_the_limit_is_source_too_long(
    papi: httpx.Client, origin: LoopbackServer, tmp_path: Path
) -> None:
    limit = 20  # PIPELINE_OVERRIDES' max_source_seconds
    clip = make_sample_clip(tmp_path / "long.mp4", seconds=limit + 1, width=64, height=48, fps=5)
    task = _fails_with(papi, origin.serve_bytes("/long.mp4", clip.read_bytes()), "source_too_long")
    assert task["error"]["message"].endswith("s, over the 20 s limit")  # type: ignore[index]


def test_super_resolution_past_4k_is_refused_before_any_render(
    papi: httpx.Client, origin: LoopbackServer, tmp_path: Path
) -> None:
    clip = make_sample_clip(tmp_path / "wide.mp4", seconds=0.2, width=1000, height=540)  # ×4: 4000 px wide
    source = origin.serve_bytes("/wide.mp4", clip.read_bytes())
    created = papi.post("/v1/tasks/super-resolution", json={"source_url": source, "scale": 4, "mode": "fast"})
    task = wait_for_task(papi, created.json()["id"])
    assert task["status"] == "failed" and task["error"]["code"] == "source_too_large", task
    assert task["error"]["message"].endswith("is 4000×2160, above 4K"), task["error"]


def test_audio_only_source_is_unsupported_for_renderers(
    papi: httpx.Client, origin: LoopbackServer, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import av
    import numpy as np

    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="flt", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    _fails_with(papi, origin.serve_bytes("/tone.m4a", path.read_bytes()), "unsupported_media")


def test_blocked_hosts_and_redirects_never_reach_the_canaries(
    papi: httpx.Client, origin: LoopbackServer, canaries: list[LoopbackServer], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    v4, v6 = canaries
    clip = make_sample_clip(tmp_path / "c.mp4").read_bytes()
    good = origin.serve_bytes("/good.mp4", clip)
    hops = [
        origin.respond(f"/hop{i}", lambda _, i=i: (302, {"Location": f"/hop{i + 1}"}, b"")) for i in range(6)
    ]
    redirects = [
        origin.respond("/to-v4", lambda _: (302, {"Location": v4.url + "/clip.mp4"}, b"")),
        origin.respond("/to-v6", lambda _: (307, {"Location": v6.url + "/clip.mp4"}, b"")),
        origin.respond(
            "/to-metadata", lambda _: (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
        ),
    ]
    for source in redirects:
        task = _fails_with(papi, source, "invalid_source")
        assert "not allowed" in task["error"]["message"]  # type: ignore[index]
    task = _fails_with(papi, hops[0], "invalid_source")  # more than 5 redirects
    assert "redirects" in task["error"]["message"]  # type: ignore[index]
    # (a name resolving to an allowed and a blocked address is refused: tests/unit/test_outbound.py, with an
    # injected resolver; this machine's /etc/hosts gives `localhost` only 127.0.0.1, so no name reaches ::1 here)
    ok = papi.post(
        ROUTE, json={"source_url": origin.respond("/one-hop", lambda _: (302, {"Location": good}, b""))}
    )
    assert wait_for_task(papi, ok.json()["id"], until={"queued", "failed"})["status"] == "queued"


def test_webhook_deliveries_never_reach_the_canaries(
    papi: httpx.Client, pipeline_ctx, origin: LoopbackServer, canaries: list[LoopbackServer], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from .pipeline_helpers import thread_worker

    v4, v6 = canaries
    for target in (
        v4,
        v6,
    ):  # IP-literal webhook URLs of blocked addresses are refused when the task is created
        refused = papi.post(
            ROUTE, json={"source_url": origin.url + "/x.mp4", "webhook_url": target.url + "/hook"}
        )
        assert refused.status_code == 422
    clip = origin.serve_bytes("/clip.mp4", make_sample_clip(tmp_path / "c.mp4").read_bytes())
    bouncer = origin.respond("/bounce", lambda _: (307, {"Location": v4.url + "/hook"}, b""))
    created = papi.post(ROUTE, json={"source_url": clip, "webhook_url": bouncer})
    assert created.status_code == 202
    with thread_worker(pipeline_ctx):
        task = wait_for_task(papi, created.json()["id"])
    assert task["status"] == "completed"
    # the canaries are checked once two attempts are over (each recorded after its POST, with the 307 it got),
    # not while the first may still be on its way
    completed = event_id(task["id"], WebhookEvent.task_completed)
    deadline = time.monotonic() + 30
    while len(attempts := pipeline_ctx.store.event_attempts(task["workspace_id"], completed)) < 2:
        assert time.monotonic() < deadline, attempts
        time.sleep(0.2)
    assert [(a.status_code, a.delivered) for a in attempts[:2]] == [(307, False), (307, False)]
    assert len(origin.received("/bounce")) >= 2  # delivered to the bouncer, whose redirect is not followed
