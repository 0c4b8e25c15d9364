"""Sample clips made with PyAV (moving gradients, an optional 440 Hz tone): the demo and the tests use them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_sample_clip(
    path: Path,
    *,
    seconds: float = 1.0,
    width: int = 160,
    height: int = 120,
    fps: int = 25,
    audio: bool = True,
    tone: bool = True,
    container: str = "mp4",
    keyframe_interval: int | None = None,
) -> Path:
    """`keyframe_interval` (frames) places keyframes for segmenting tests; the default is x264's (250)."""
    with av.open(str(path), "w", format=container) as out:
        options = {"preset": "ultrafast"}
        if keyframe_interval is not None:
            options |= {"g": str(keyframe_interval), "keyint_min": str(keyframe_interval)}
        video = out.add_stream("libx264", rate=fps, options=options)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=16000) if audio else None
        frames = int(seconds * fps)
        for i in range(frames):
            x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
            y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
            pixels = ((x + y + i * 8) % 256).repeat(3, axis=2).astype(np.uint8)
            pixels[..., 1] = pixels[..., 1] + np.uint8(85)  # wraps around: a second pattern
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            samples = int(seconds * 16000)
            t = np.arange(samples) / 16000
            level = 0.3 if tone else 0.0  # a 440 Hz tone, or digital silence
            tone_wave = (level * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(tone_wave[:, start : start + 1024]), format="flt", layout="mono"
                )
                chunk.sample_rate = 16000
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return path
