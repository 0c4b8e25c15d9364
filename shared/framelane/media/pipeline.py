"""decode → engine → encode, overlapped: a decoder thread, the engine on the calling thread, a writer thread.

Bounded queues between the stages keep memory flat and let the codec work run while the engine computes,
so the whole runs near the speed of its slowest stage. Audio is decoded alongside and re-encoded into the
output's audio codec. `should_stop` is checked between frames (cancellation, shutdown).
"""

from __future__ import annotations

import io
import queue
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import av
import cv2
import numpy as np

from framelane.engines.base import Frame, FrameEngine
from framelane.media.formats import OutputSpec

QUEUE_DEPTH = 8
_END = object()


class RenderStopped(Exception):
    """`should_stop` asked the render to stop; nothing was written that counts."""


@dataclass(frozen=True)
class RenderStats:
    frames: int
    width: int
    height: int
    duration: float
    seconds: float


@dataclass
class _VideoItem:
    pts: int | None
    pixels: Frame


@dataclass
class _AudioItem:
    frame: av.AudioFrame


class _StageError:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def render(
    input_path: str,
    output_path: str,
    engine: FrameEngine,
    spec: OutputSpec,
    *,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> RenderStats:
    started = time.perf_counter()
    with av.open(input_path) as source:
        video_in = source.streams.video[0]
        video_in.thread_type = "AUTO"
        audio_in = next(iter(source.streams.audio), None) if spec.audio_codec else None
        width, height = engine.output_size(video_in.codec_context.width, video_in.codec_context.height)
        rate = video_in.average_rate or Fraction(25)
        total = video_in.frames or int(float(source.duration or 0) / av.time_base * float(rate)) or 1
        time_base = video_in.time_base or Fraction(1, int(rate))

        decoded: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)
        processed: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH * 2)
        stop = threading.Event()
        writer_result: dict[str, Any] = {}

        def decode() -> None:
            try:
                streams = [s for s in (video_in, audio_in) if s is not None]
                for packet in source.demux(*streams):
                    if stop.is_set():
                        break
                    for frame in packet.decode():
                        if isinstance(frame, av.VideoFrame):
                            _put(
                                decoded,
                                _VideoItem(
                                    frame.pts, np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                                ),
                                stop,
                            )
                        elif isinstance(frame, av.AudioFrame):
                            frame.pts = None
                            _put(processed, _AudioItem(frame), stop)
                _put(decoded, _END, stop)
            except BaseException as exc:  # surfaced on the engine thread
                _put(decoded, _StageError(exc), stop)

        def write() -> None:
            try:
                writer_result["frames"] = _write(
                    output_path, spec, processed, width, height, rate, time_base, audio_in, stop
                )
            except BaseException as exc:
                writer_result["error"] = exc
                stop.set()

        decoder = threading.Thread(target=decode, name="decode", daemon=True)
        writer = threading.Thread(target=write, name="encode", daemon=True)
        decoder.start()
        writer.start()
        done = 0
        try:
            while True:
                item = decoded.get()
                if item is _END:
                    break
                if isinstance(item, _StageError):
                    raise item.error
                if should_stop():
                    raise RenderStopped("stopped between frames")
                if stop.is_set():
                    break  # the writer failed; its error is raised below
                _put(processed, _encoder_input(item.pts, engine.process(item.pixels), spec), stop)
                done += 1
                on_progress(done, total)
            engine.finish()
            _put(processed, _END, stop)
        except BaseException:
            stop.set()
            raise
        finally:
            writer.join()
            decoder.join(timeout=5)
        if "error" in writer_result:
            raise writer_result["error"]
        frames = int(writer_result["frames"])
        duration = float(frames / rate) if rate else 0.0
    return RenderStats(frames, width, height, duration, time.perf_counter() - started)


@dataclass
class _EncoderInput:
    pts: int | None
    frame: av.VideoFrame


def _encoder_input(pts: int | None, pixels: Frame, spec: OutputSpec) -> _VideoItem | _EncoderInput:
    """The engine's output in the encoder's own pixel format, converted here on the engine thread: the
    writer thread, which feeds the encoder one frame at a time, then only encodes."""
    if spec.container is None:
        return _VideoItem(pts, pixels)  # PNG frames
    frame = video_frame(pixels, spec)
    if frame.format.name != spec.pix_fmt:
        frame = frame.reformat(format=spec.pix_fmt)
    return _EncoderInput(pts, frame)


def video_frame(pixels: Frame, spec: OutputSpec) -> av.VideoFrame:
    """An engine's RGB/RGBA frame as the encoder's input. 4:2:0 outputs are converted by OpenCV (SIMD, several
    threads, no GIL): about 6× faster than swscale's RGB → yuv420p at 720p, with the same BT.601 result."""
    if spec.alpha:
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(_with_alpha(pixels)), format="rgba")
    rgb = np.ascontiguousarray(pixels[..., :3])
    if spec.pix_fmt == "yuv420p" and rgb.shape[0] % 2 == 0 and rgb.shape[1] % 2 == 0:
        planes = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), dtype=np.uint8)
        return av.VideoFrame.from_ndarray(planes, format="yuv420p")
    return av.VideoFrame.from_ndarray(rgb, format="rgb24")


def _put(target: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            target.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _get(source: queue.Queue[Any], stop: threading.Event) -> Any:
    while True:
        try:
            return source.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                return _END


def _write(
    output_path: str,
    spec: OutputSpec,
    processed: queue.Queue[Any],
    width: int,
    height: int,
    rate: Fraction,
    time_base: Fraction,
    audio_in: av.AudioStream | None,
    stop: threading.Event,
) -> int:
    if spec.container is None:
        return _write_png_zip(output_path, processed, stop)
    frames = 0
    with av.open(output_path, "w", format=spec.container) as target:
        video = cast(
            av.VideoStream, target.add_stream(spec.video_codec, rate=rate, options=dict(spec.codec_options))
        )
        video.width, video.height, video.pix_fmt = width, height, spec.pix_fmt
        video.time_base = time_base
        audio: av.AudioStream | None = None
        if audio_in is not None and spec.audio_codec is not None:
            sample_rate = audio_in.codec_context.sample_rate or 48000
            if spec.audio_codec == "libopus":
                sample_rate = 48000
            audio = cast(av.AudioStream, target.add_stream(spec.audio_codec, rate=sample_rate))
        while True:
            item = _get(processed, stop)
            if item is _END:
                break
            if isinstance(item, _AudioItem):
                if audio is not None:
                    for packet in audio.encode(item.frame):
                        target.mux(packet)
                continue
            frame = item.frame
            frame.pts, frame.time_base = item.pts, time_base
            for packet in video.encode(frame):
                target.mux(packet)
            frames += 1
        if stop.is_set():
            return frames
        for packet in video.encode():
            target.mux(packet)
        if audio is not None:
            for packet in audio.encode():
                target.mux(packet)
    return frames


def _write_png_zip(output_path: str, processed: queue.Queue[Any], stop: threading.Event) -> int:
    frames = 0
    with zipfile.ZipFile(output_path, "w", compression=zipfile.ZIP_STORED) as archive:
        while True:
            item = _get(processed, stop)
            if item is _END:
                break
            if isinstance(item, _AudioItem):
                continue
            archive.writestr(f"frame_{frames:06d}.png", _png(_with_alpha(item.pixels)))
            frames += 1
    return frames


def _png(rgba: Frame) -> bytes:
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = rgba.shape[1], rgba.shape[0], "rgba"
    buffer = io.BytesIO()
    for packet in codec.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba")):
        buffer.write(bytes(packet))
    for packet in codec.encode(None):
        buffer.write(bytes(packet))
    return buffer.getvalue()


def _with_alpha(pixels: Frame) -> Frame:
    if pixels.shape[2] == 4:
        return pixels
    alpha = np.full((*pixels.shape[:2], 1), 255, dtype=np.uint8)
    return np.concatenate([pixels, alpha], axis=2)
