"""Small clips from still pictures (for real engines that need a person or a face), and decoding the results."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def clip_of(frames: list[np.ndarray], path: Path, fps: int = 25) -> bytes:
    """An H.264 MP4 (near-lossless, so the engines see the pictures as they are) of RGB `frames`."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "12"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    return path.read_bytes()


def rgb_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def rgba_frames(path: Path) -> list[np.ndarray]:
    """VP9 frames with their alpha plane (ffmpeg's native vp9 decoder drops alpha, libvpx keeps it)."""
    frames = []
    with av.open(str(path)) as container:
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        for packet in container.demux(container.streams.video[0]):
            for frame in decoder.decode(packet):
                assert frame.format.name == "yuva420p"
                frames.append(frame.to_ndarray(format="rgba"))
    return frames
