"""Transcode efficiency: frames/s of the overlapped decode → engine → encode path over a 720p 10 s clip,
divided by the engine's own frames/s, next to the codec stages alone. Prints figures; asserts nothing.

    .venv/bin/python bench/transcode_bench.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from framelane.engines.base import Frame
from framelane.engines.super_resolution import FastUpscaler
from framelane.media.formats import H264_MP4, VP9_ALPHA_WEBM
from framelane.media.samples import make_sample_clip
from framelane.media.transcode import render


class Detail:
    """A real CPU filter slower than the codec (edge-preserving bilateral smoothing)."""

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def process(self, frame: Frame) -> Frame:
        return np.asarray(cv2.bilateralFilter(frame, 7, 40, 7), dtype=np.uint8)

    def finish(self) -> None:
        pass


def decoded_frames(path: Path) -> list[Frame]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def fps(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="framelane-bench-"))
    clip720 = make_sample_clip(workdir / "720p.mp4", seconds=args.seconds, width=1280, height=720, fps=25)
    clip360 = make_sample_clip(workdir / "360p.mp4", seconds=args.seconds, width=640, height=360, fps=25)
    print(f"decode → engine → encode, {args.seconds:g} s clips at 25 fps, cv2 threads {cv2.getNumThreads()}")

    start = time.perf_counter()
    frames720 = decoded_frames(clip720)
    print(f"  decode 720p alone                  {fps(len(frames720), time.perf_counter() - start):7.1f} fps")
    for spec in (H264_MP4, VP9_ALPHA_WEBM):
        start = time.perf_counter()
        with av.open(str(workdir / f"enc.{spec.extension}"), "w", format=spec.container) as out:
            stream = out.add_stream(spec.video_codec, rate=25, options=dict(spec.codec_options))
            stream.width, stream.height, stream.pix_fmt = 1280, 720, spec.pix_fmt
            fmt = "rgba" if spec.alpha else "rgb24"
            for pixels in frames720:
                data = np.dstack([pixels, np.full(pixels.shape[:2], 255, np.uint8)]) if spec.alpha else pixels
                for packet in stream.encode(av.VideoFrame.from_ndarray(data, format=fmt)):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        print(
            f"  {spec.video_codec:12} encode 720p alone      {fps(len(frames720), time.perf_counter() - start):7.1f} fps"
        )

    frames360 = decoded_frames(clip360)
    cases = [
        ("bilateral filter 720p → H.264", Detail(), clip720, frames720, H264_MP4),
        ("fast super-resolution ×2 360p→720p → H.264", FastUpscaler(2), clip360, frames360, H264_MP4),
    ]
    # With the engine on all cores the codec competes for the same CPU; with one engine thread (as when the
    # engine runs on a GPU) the codec work can overlap on the other core.
    for threads in (cv2.getNumThreads(), 1):
        cv2.setNumThreads(threads)
        for name, engine, clip, frames, spec in cases:
            start = time.perf_counter()
            for pixels in frames:
                engine.process(pixels)
            engine_fps = fps(len(frames), time.perf_counter() - start)
            stats = render(str(clip), str(workdir / f"out.{spec.extension}"), engine, spec)
            transcode_fps = fps(stats.frames, stats.seconds)
            print(
                f"  [{threads} engine thread(s)] {name:44} engine alone {engine_fps:6.1f} fps   "
                f"transcode {transcode_fps:6.1f} fps   efficiency {transcode_fps / engine_fps:4.2f}"
            )


if __name__ == "__main__":
    main()
