"""Probe a media file with PyAV (ffmpeg): duration, frame size (upright), frame rate, which tracks it has."""

from __future__ import annotations

import os
from dataclasses import dataclass

import av

from framelane.models import MediaInfo


class NotMedia(Exception):
    """ffmpeg cannot read the file as media."""


def probe(path: str) -> MediaInfo:
    try:
        with av.open(path) as container:
            video = next(iter(container.streams.video), None)
            audio = next(iter(container.streams.audio), None)
            duration = _duration(container, video or audio)
            if video is None and audio is None:
                raise NotMedia("the file has no audio or video track")
            fps = float(video.average_rate) if video is not None and video.average_rate else None
            picture = _first_picture(container) if video is not None else None
            return MediaInfo(
                duration=duration,
                width=picture.width if picture else None,
                height=picture.height if picture else None,
                fps=fps,
                has_video=video is not None,
                has_audio=audio is not None,
                size_bytes=os.path.getsize(path),
                container=container.format.name,
            )
    except av.FFmpegError as exc:
        raise NotMedia(f"not a readable media file ({type(exc).__name__})") from exc


def _duration(container: av.container.InputContainer, stream: av.stream.Stream | None) -> float:
    if container.duration is not None and container.duration > 0:
        return float(container.duration / av.time_base)
    if stream is not None and stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return 0.0


@dataclass(frozen=True)
class Picture:
    """How the video is shown: its first frame's size once turned upright, and the turn."""

    width: int
    height: int
    turns: int  # counter-clockwise quarter turns from the coded picture to the upright one


def first_picture(path: str) -> Picture:
    with av.open(path) as container:
        return _first_picture(container)


def _first_picture(container: av.container.InputContainer) -> Picture:
    """The first frame decides: a stream's header may carry the size of a later part (one that changes its
    size midway), and rotation metadata (the display matrix phones write instead of turning the pixels) is
    read from the frame, rounded to a multiple of 90°."""
    stream = container.streams.video[0]
    for frame in container.decode(stream):
        turns = round(frame.rotation / 90) % 4
        size = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
        return Picture(*size, turns)
    return Picture(stream.codec_context.width, stream.codec_context.height, 0)
