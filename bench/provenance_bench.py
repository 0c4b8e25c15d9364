"""Content Credentials overhead: what the worker adds after rendering (hash the source, sign, validate the
signed file) next to the render itself, on a generated one-minute 720p clip. Prints figures; asserts nothing.

The render uses the fast super-resolution engine at scale 1 (Lanczos + sharpening, 720p → 720p, H.264): one of
the cheapest real renders, so the percentage is an upper bound for the learned engines. WebM (sidecar) and the
PNG zip (every frame signed) are measured on shorter clips and reported per second of video / per frame.

    PYTHONPATH=. .venv/bin/python bench/provenance_bench.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from framelane.config import Settings
from framelane.engines.background import create as background_engine
from framelane.engines.base import FrameEngine
from framelane.engines.super_resolution import FastUpscaler
from framelane.media.formats import H264_MP4, PNG_ZIP, VP9_ALPHA_WEBM, OutputSpec
from framelane.media.probe import probe
from framelane.media.samples import make_sample_clip
from framelane.media.transcode import render
from framelane.models import TaskType
from framelane.provenance.credentials import load_identity
from framelane.provenance.facts import engine_facts
from framelane.provenance.manifest import TaskFacts
from framelane.provenance.signing import Provenance, SourceFile
from framelane.provenance.verify import read_report, verify_png_zip
from framelane.weights import file_sha256


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def typical_output(path: Path, seconds: float) -> Path:
    """An H.264 720p file at 4 Mbit/s (what a real one-minute 720p output weighs, ~30 MB): the generated clip
    compresses to almost nothing, and signing and validating cost grows with the bytes hashed."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (720 + 64, 1280 + 64, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "b": "4M"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for index in range(int(seconds * 25)):
            dy, dx = index % 64, (index * 3) % 64
            frame = av.VideoFrame.from_ndarray(texture[dy : dy + 720, dx : dx + 1280], format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def sign_and_validate(
    provenance: Provenance, clip: Path, output: Path, spec: OutputSpec, engine: FrameEngine
) -> dict[str, float]:
    """The worker's steps after the render, timed one by one."""
    times: dict[str, float] = {}
    start = time.perf_counter()
    sha = file_sha256(clip)
    times["hash source"] = time.perf_counter() - start
    facts = TaskFacts("task_bench", TaskType.super_resolution, {"scale": 1}, engine_facts(engine), sha)
    source = SourceFile(str(clip), "video/mp4", "source")
    start = time.perf_counter()
    manifest = None
    if spec.container is None:
        provenance.sign_png_zip(facts, source, str(output))
    elif spec is VP9_ALPHA_WEBM:
        manifest = provenance.sign_sidecar(facts, source, str(output), spec.content_type)
    else:
        provenance.sign_embedded(facts, source, str(output), spec.content_type)
    times["sign"] = time.perf_counter() - start
    start = time.perf_counter()
    if spec.container is None:
        state = verify_png_zip(output).state
    else:
        with output.open("rb") as stream:
            state = read_report(stream, spec.content_type, manifest=manifest).state
    times["validate"] = time.perf_counter() - start
    assert state == "Valid", state
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="framelane-bench-"))
    identity = load_identity(Settings(c2pa_dev_credentials_dir=str(workdir / "dev")))
    assert identity is not None
    provenance = Provenance(identity)

    clip = make_sample_clip(workdir / "720p.mp4", seconds=args.seconds, width=1280, height=720, fps=25)
    output = workdir / "output.mp4"
    engine = FastUpscaler(1.0)
    render_seconds = timed(lambda: render(str(clip), str(output), engine, H264_MP4))
    size_mb = output.stat().st_size / 1e6
    print(
        f"MP4 (embedded): {args.seconds:g} s of 1280×720 at 25 fps, source {clip.stat().st_size / 1e6:.1f} MB"
    )
    print(f"  render (fast SR ×1, H.264)    {render_seconds:8.2f} s   output {size_mb:.1f} MB")
    times = sign_and_validate(provenance, clip, output, H264_MP4, engine)
    for name, seconds in times.items():
        print(f"  {name:<29} {seconds * 1000:8.1f} ms")
    total = sum(times.values())
    print(
        f"  content credentials total     {total * 1000:8.1f} ms = {100 * total / render_seconds:.2f} % of the render"
    )
    heavy = typical_output(workdir / "typical.mp4", args.seconds)
    times = sign_and_validate(provenance, clip, heavy, H264_MP4, engine)
    total = sum(times.values())
    print(
        f"  same, on a {heavy.stat().st_size / 1e6:.0f} MB output (4 Mbit/s): sign {times['sign'] * 1000:.0f} ms, "
        f"validate {times['validate'] * 1000:.0f} ms = {100 * total / render_seconds:.2f} % of the render above"
    )

    short = make_sample_clip(workdir / "720p-short.mp4", seconds=4, width=1280, height=720, fps=25)
    media = probe(str(short))
    for spec, label in ((VP9_ALPHA_WEBM, "WebM (sidecar)"), (PNG_ZIP, "PNG zip (each frame)")):
        remover = background_engine({}, media)
        target = workdir / f"output.{spec.extension}"
        rendered = timed(
            lambda spec=spec, remover=remover, target=target: render(str(short), str(target), remover, spec)
        )  # type: ignore[misc]
        times = sign_and_validate(provenance, short, target, spec, remover)
        total = sum(times.values())
        print(
            f"{label}: 4 s 720p remove_background: render {rendered:6.2f} s, credentials {total * 1000:7.1f} ms "
            f"({100 * total / rendered:.2f} %; sign {times['sign'] * 1000:.0f} ms, validate {times['validate'] * 1000:.0f} ms, "
            f"{1000 * total / 100:.1f} ms per frame)"
        )


if __name__ == "__main__":
    main()
