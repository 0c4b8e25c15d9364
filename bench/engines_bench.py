"""Engines: model-only and full-pipeline frames/s at 640×360 and 1280×720, next to the codec stages alone in the
same run (decode, H.264 encode, VP9-alpha encode). Prints figures; asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/engines_bench.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

from framelane.engines.background import BackgroundRemover
from framelane.engines.base import FrameEngine
from framelane.engines.gaze import GazeRedirector
from framelane.engines.super_resolution import FastUpscaler
from framelane.media.formats import H264_MP4, VP9_ALPHA_WEBM, OutputSpec
from framelane.media.pipeline import render
from framelane.media.samples import make_sample_clip
from framelane.weights import SELFIE_SEGMENTATION, locate


def frames_of(path: Path) -> tuple[list[np.ndarray], float]:
    start = time.perf_counter()
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames, len(frames) / (time.perf_counter() - start)


def encode_fps(frames: list[np.ndarray], spec: OutputSpec, path: Path) -> float:
    start = time.perf_counter()
    with av.open(str(path), "w", format=spec.container) as out:
        stream = out.add_stream(spec.video_codec, rate=25, options=dict(spec.codec_options))
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], spec.pix_fmt
        for pixels in frames:
            data = np.dstack([pixels, np.full(pixels.shape[:2], 255, np.uint8)]) if spec.alpha else pixels
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(data, format="rgba" if spec.alpha else "rgb24")
            ):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return len(frames) / (time.perf_counter() - start)


def engine_fps(engine: FrameEngine, frames: list[np.ndarray]) -> float:
    start = time.perf_counter()
    for pixels in frames:
        engine.process(pixels)
    return len(frames) / (time.perf_counter() - start)


def faces_frames(width: int, height: int, count: int = 60) -> list[np.ndarray]:
    """A face (the astronaut's, one per frame, drifting) on a plain frame of the given size."""
    face = data.astronaut()[30:290, 100:360]
    size = min(height, width) * 3 // 4
    face = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(count):
        frame = np.full((height, width, 3), 120, np.uint8)
        x = (width - size) // 2 + int(10 * np.sin(i / 8))
        frame[(height - size) // 2 : (height - size) // 2 + size, x : x + size] = face
        frames.append(frame)
    return frames


def make_face_clip(path: Path, width: int, height: int, seconds: float) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for pixels in faces_frames(width, height, int(seconds * 25)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="framelane-bench-"))
    selfie = str(locate(SELFIE_SEGMENTATION) / "selfie_segmentation.tflite")
    for width, height in ((640, 360), (1280, 720)):
        clip = make_sample_clip(workdir / f"{height}.mp4", seconds=args.seconds, width=width, height=height)
        frames, decode = frames_of(clip)
        h264, vp9 = (
            encode_fps(frames, H264_MP4, workdir / "a.mp4"),
            encode_fps(frames, VP9_ALPHA_WEBM, workdir / "a.webm"),
        )
        print(
            f"{width}×{height}: decode {decode:6.1f} fps, H.264 encode {h264:6.1f} fps, VP9-alpha encode {vp9:5.1f} fps"
        )
        model = engine_fps(BackgroundRemover(selfie), frames)
        stats = render(str(clip), str(workdir / "bg.webm"), BackgroundRemover(selfie), VP9_ALPHA_WEBM)
        full = stats.frames / stats.seconds
        print(
            f"  remove_background  model {model:6.1f} fps   end to end (VP9 alpha) {full:6.1f} fps   "
            f"= {full / vp9:4.2f} × VP9-alpha encode (goal ≥ 0.7 at 720p)"
        )
        gaze_model = engine_fps(GazeRedirector(1.0), faces_frames(width, height))
        gaze_clip = make_face_clip(workdir / f"face{height}.mp4", width, height, args.seconds)
        stats = render(str(gaze_clip), str(workdir / "gaze.mp4"), GazeRedirector(1.0), H264_MP4)
        gaze_full = stats.frames / stats.seconds
        print(
            f"  gaze_redirect      model {gaze_model:6.1f} fps   end to end (H.264) {gaze_full:6.1f} fps   "
            f"= {gaze_full / h264:4.2f} × H.264 encode (goal ≥ 0.5 at 720p)"
        )
        if height == 360:
            fast = engine_fps(FastUpscaler(2), frames)
            stats = render(str(clip), str(workdir / "sr.mp4"), FastUpscaler(2), H264_MP4)
            print(
                f"  super-resolution fast ×2 → 720p  model {fast:6.1f} fps   end to end {stats.frames / stats.seconds:6.1f} fps"
            )


if __name__ == "__main__":
    main()
