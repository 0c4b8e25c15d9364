"""Engines: model-only and full-transcode frames/s at 640×360 and 1280×720, next to the codec stages alone in the
same run (decode, H.264 encode, VP9-alpha encode). Prints figures; asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/engines_bench.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

from framelane.engines.background import BackgroundRemover
from framelane.engines.base import FrameEngine
from framelane.engines.gaze import GazeRedirector
from framelane.engines.super_resolution import FastUpscaler, LearnedUpscaler
from framelane.media.formats import H264_MP4, VP9_ALPHA_WEBM, OutputSpec
from framelane.media.transcode import render, video_frame
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
        for pixels in frames:  # the frame loop's own conversion to the encoder's input
            for packet in stream.encode(video_frame(pixels, spec)):
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


def person_frames(width: int, height: int, count: int = 60) -> list[np.ndarray]:
    """The astronaut (a person, so the segmentation runs its crop pass) walking across a gradient."""
    size = height * 9 // 10
    person = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:height, 0:width]
    backdrop = np.dstack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 128)]).astype(np.uint8)
    frames = []
    for i in range(count):
        frame = backdrop.copy()
        x = (i * 4) % (width - size)
        frame[height - size :, x : x + size] = person
        frames.append(frame)
    return frames


def make_clip(path: Path, frames: list[np.ndarray]) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


class PassThrough:
    """A zero-cost engine: what the decode → engine → encode loop reaches around no work at all."""

    def __init__(self, alpha: bool) -> None:
        self.alpha = alpha

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def process(self, frame: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(frame, cv2.COLOR_RGB2RGBA) if self.alpha else frame

    def finish(self) -> None:
        pass


def end_to_end_fps(clip: Path, output: Path, engine: FrameEngine, spec: OutputSpec) -> float:
    stats = render(str(clip), str(output), engine, spec)
    return stats.frames / stats.seconds


def measured(run: Callable[[], float], repeats: int, frames: int) -> tuple[float, float]:
    """The median frames/s of `repeats` runs (this shared machine's speed drifts between runs), and the
    process CPU time per frame (ms) across them: the cost that competes for the cores."""
    cpu = time.process_time()
    rates = sorted(run() for _ in range(repeats))
    return rates[len(rates) // 2], (time.process_time() - cpu) / (repeats * frames) * 1000


def report(
    name: str,
    goal: float,
    workdir: Path,
    frames: list[np.ndarray],
    make_engine: Callable[[], FrameEngine],
    spec: OutputSpec,
    repeats: int,
) -> None:
    """Decode, the engine alone, the encoder alone on the engine's own output, the frame loop around a
    pass-through engine, and the whole transcode: all on the same clip, in this run. Frames/s, with the CPU
    milliseconds each stage spends per frame."""
    clip = make_clip(workdir / f"{name}.mp4", frames)
    count = len(frames)
    decode, decode_cpu = measured(lambda: frames_of(clip)[1], repeats, count)
    model, model_cpu = measured(lambda: engine_fps(make_engine(), frames), repeats, count)
    engine = make_engine()
    outputs = [engine.process(pixels) for pixels in frames]  # not timed: keeping them all costs page faults
    alone = workdir / f"{name}-alone.{spec.extension}"
    encode, encode_cpu = measured(lambda: encode_fps(outputs, spec, alone), repeats, count)
    same_size = outputs[0].shape[:2] == frames[0].shape[:2]
    passed = workdir / f"{name}-pass.{spec.extension}"
    ceiling, _ = (
        measured(lambda: end_to_end_fps(clip, passed, PassThrough(spec.alpha), spec), repeats, count)
        if same_size
        else (float("nan"), 0.0)
    )
    output = workdir / f"{name}-out.{spec.extension}"
    full, full_cpu = measured(lambda: end_to_end_fps(clip, output, make_engine(), spec), repeats, count)
    codec = spec.video_codec
    print(
        f"  {name:<26} decode {decode:6.1f}  {codec} alone {encode:6.1f}  engine alone {model:6.1f}  "
        f"transcode w/o engine {ceiling:6.1f}  end to end {full:6.1f} fps  = {full / encode:4.2f} × {codec}"
        + (f" (goal ≥ {goal})" if goal else "")
    )
    print(
        f"  {'':<26} CPU ms/frame: decode {decode_cpu:5.1f}  {codec} {encode_cpu:5.1f}  engine {model_cpu:5.1f}  "
        f"end to end {full_cpu:5.1f} (of {1000 * (os.cpu_count() or 1) / full:5.1f} the cores offer)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="framelane-bench-"))
    selfie = locate(SELFIE_SEGMENTATION)
    count = int(args.seconds * 25)
    for width, height in ((640, 360), (1280, 720)):
        print(f"{width}×{height} ({os.cpu_count()} cores), frames/s:")
        goal = height == 720
        report(
            "remove_background",
            0.7 if goal else 0,
            workdir,
            person_frames(width, height, count),
            lambda: BackgroundRemover(selfie),
            VP9_ALPHA_WEBM,
            args.repeats,
        )
        report(
            "gaze_redirect",
            0.5 if goal else 0,
            workdir,
            faces_frames(width, height, count),
            lambda: GazeRedirector(1.0),
            H264_MP4,
            args.repeats,
        )
        if height == 360:
            learned = engine_fps(LearnedUpscaler(2), person_frames(width, height, 5))
            print(
                f"  super_resolution learned ×2 (SPAN, {LearnedUpscaler(2).device}) engine alone {learned:6.2f} fps"
            )
            report(
                "super_resolution fast ×2",
                0.6,
                workdir,
                person_frames(width, height, count),
                lambda: FastUpscaler(2),
                H264_MP4,
                args.repeats,
            )


if __name__ == "__main__":
    main()
