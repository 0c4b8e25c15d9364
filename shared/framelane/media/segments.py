"""Long sources in segments: cut at the source's keyframes (from the container index, no decode), rendered
apart, joined again without re-encoding.

A segment keeps the frames with `start_pts <= pts < end_pts` (source time base). Its render starts decoding
at `warmup_pts`, a keyframe about `warmup_seconds` earlier, and feeds those frames to the engine only, so
trackers and temporal smoothing have settled by the first kept frame. Every segment is encoded with the same
settings and starts on a keyframe, so `stitch` copies their packets one after the other into one file, with
the source's timestamps, and adds the source's audio once.
"""

from __future__ import annotations

import heapq
import itertools
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import av

from framelane.media.formats import OutputSpec


@dataclass(frozen=True)
class Cut:
    """One planned segment of a source (pts in the source video stream's time base; None: open end)."""

    start_pts: int | None
    end_pts: int | None
    warmup_pts: int | None
    frames: int


def plan_cuts(path: str, segment_seconds: float, warmup_seconds: float) -> list[Cut]:
    """Segments of about `segment_seconds`, each starting on a keyframe, from the demuxed packets alone.

    A last piece shorter than half a segment joins the one before, so no segment is a sliver."""
    with av.open(path) as source:
        video = source.streams.video[0]
        time_base = video.time_base or Fraction(1, 25)
        packets = [(p.pts, p.is_keyframe) for p in source.demux(video) if p.pts is not None and p.size]
    if not packets:
        return [Cut(None, None, None, 0)]
    packets.sort()
    every = sorted(pts for pts, _ in packets)
    keyframes = [pts for pts, key in packets if key]
    step = max(1, round(segment_seconds / time_base))
    last = every[-1]
    starts: list[int] = []
    previous = every[0]
    for pts in keyframes:
        if pts - previous >= step and last - pts >= step / 2:
            starts.append(pts)
            previous = pts
    warm = round(warmup_seconds / time_base)
    bounds: list[int | None] = [None, *starts, None]
    cuts = []
    for begin, end in itertools.pairwise(bounds):
        frames = sum(1 for pts in every if (begin is None or pts >= begin) and (end is None or pts < end))
        warmup = None if begin is None else max((k for k in keyframes if k <= begin - warm), default=every[0])
        cuts.append(Cut(begin, end, warmup, frames))
    return cuts


def stitch(parts: Sequence[str], source_path: str, output_path: str, spec: OutputSpec) -> int:
    """Join rendered segments (in order) into `output_path` by copying their video packets, and encode the
    source's audio into it once (as an unsegmented render does). Returns the number of video frames."""
    if spec.container is None:
        return _stitch_png_zips(parts, output_path)
    frames = 0
    with av.open(output_path, "w", format=spec.container, options=dict(_muxer_options(spec))) as target:
        with av.open(parts[0]) as first:
            template = first.streams.video[0]
            video = target.add_stream_from_template(template)
        with av.open(source_path) as source:
            audio_in = next(iter(source.streams.audio), None) if spec.audio_codec else None
            audio: av.AudioStream | None = None
            if audio_in is not None and spec.audio_codec is not None:
                rate = 48000 if spec.audio_codec == "libopus" else audio_in.codec_context.sample_rate or 48000
                audio = cast(av.AudioStream, target.add_stream(spec.audio_codec, rate=rate))
            streams: list[Iterator[tuple[float, int, av.Packet[Any]]]] = [_video_packets(parts)]
            if audio is not None and audio_in is not None:
                streams.append(_audio_packets(source, audio_in, audio))
            for _, kind, packet in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
                if kind == 0:
                    packet.stream = video
                    frames += 1
                target.mux(packet)
            if audio is not None:
                for packet in audio.encode():
                    target.mux(packet)
    return frames


def _muxer_options(spec: OutputSpec) -> dict[str, str]:
    return {k: v for k, v in spec.codec_options.items() if k == "movflags"}


def _video_packets(parts: Sequence[str]) -> Iterator[tuple[float, int, av.Packet[Any]]]:
    for part in parts:
        with av.open(part) as container:
            stream = container.streams.video[0]
            base = stream.time_base or Fraction(1, 90000)
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                when = float((packet.dts if packet.dts is not None else packet.pts or 0) * base)
                yield when, 0, packet


def _audio_packets(
    source: av.container.InputContainer, audio_in: av.AudioStream, audio: av.AudioStream
) -> Iterator[tuple[float, int, Any]]:
    """The source's audio, decoded and encoded into the output's codec (timestamps follow the samples)."""
    for frame in source.decode(audio_in):
        frame.pts = None
        for packet in audio.encode(frame):
            base = packet.time_base or audio.time_base or Fraction(1, 48000)
            when = float((packet.pts or 0) * base)
            yield when, 1, packet


def _stitch_png_zips(parts: Sequence[str], output_path: str) -> int:
    frames = 0
    with zipfile.ZipFile(output_path, "w", compression=zipfile.ZIP_STORED) as archive:
        for part in parts:
            with zipfile.ZipFile(part) as piece:
                for name in sorted(piece.namelist()):
                    archive.writestr(f"frame_{frames:06d}.png", piece.read(name))
                    frames += 1
    return frames
