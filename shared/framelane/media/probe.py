"""Probe a media file with PyAV (ffmpeg): duration, frame size, frame rate, which tracks it has."""

from __future__ import annotations

import os

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
            return MediaInfo(
                duration=duration,
                width=video.codec_context.width if video is not None else None,
                height=video.codec_context.height if video is not None else None,
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
