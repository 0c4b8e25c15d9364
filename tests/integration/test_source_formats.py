"""Sources as cameras, phones and editors write them (odd sizes, 4:4:4, 10-bit, rotation metadata, variable
frame rate, VP9) render through the three real engines. The output size follows the one rule of
media/formats.py — exact where the format allows it, the nearest even size (ties down) for MP4's 4:2:0 —
and every source frame becomes one output frame at the source's time."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest
from skimage import data

from framelane.engines.background import create as background_engine
from framelane.engines.base import FrameEngine, load_registry
from framelane.engines.gaze import GazeRedirector
from framelane.engines.super_resolution import FastUpscaler, LearnedUpscaler
from framelane.media.formats import H264_MP4, PNG_ZIP, PRORES_4444_MOV, VP9_ALPHA_WEBM, OutputSpec
from framelane.media.probe import probe
from framelane.media.transcode import render
from framelane.models import MediaInfo
from framelane.services.context import ServiceContext
from tests.support.servers import loopback_server

from .pipeline_helpers import thread_worker, wait_for_task

TIME_BASE = Fraction(1, 1000)
CFR = (0, 40, 80)  # ms
VFR = (0, 20, 90, 123, 223)  # ms: gaps of 20, 70, 33 and 100 ms


@dataclass(frozen=True)
class Source:
    name: str
    size: tuple[int, int]  # upright width, height
    codec: str
    pix_fmt: str
    container: str = "mp4"
    times: tuple[int, ...] = CFR
    rotation: int = 0  # display-matrix rotation, degrees counter-clockwise


SOURCES = [
    Source("odd-444", (321, 181), "libx264", "yuv444p"),
    Source("rotated-odd", (181, 321), "libx264", "yuv444p", rotation=90),
    Source("rotated-back", (320, 180), "libx264", "yuv420p", rotation=-90),
    Source("vfr", (320, 180), "libx264", "yuv420p", times=VFR),
    Source("10-bit", (320, 180), "libx264", "yuv420p10le"),
    Source("vp9-odd-420", (321, 181), "libvpx-vp9", "yuv420p", container="webm"),
]


def scene(size: tuple[int, int], index: int) -> np.ndarray:
    """An upright frame: a face (found by the gaze engine's detector) drifting over a gray background."""
    width, height = size
    side = min(width, height) * 5 // 6
    face = cv2.resize(data.astronaut()[30:290, 100:360], (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 120, np.uint8)
    x, y = (width - side) // 2 + 2 * index, (height - side) // 2
    canvas[y : y + side, x : x + side] = face
    return canvas


def write_source(source: Source, directory: Path) -> Path:
    path = directory / f"{source.name}.{source.container}"
    turns = round(source.rotation / 90) % 4
    coded = source.size if turns % 2 == 0 else source.size[::-1]
    with av.open(str(path), "w", format=source.container) as out:
        video = out.add_stream(source.codec, rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = *coded, source.pix_fmt
        video.time_base = video.codec_context.time_base = TIME_BASE
        if source.rotation:
            video.set_display_rotation(source.rotation)
        for index, time in enumerate(source.times):
            # the player turns the coded picture by `rotation` to show it: store it turned back
            pixels = np.ascontiguousarray(np.rot90(scene(source.size, index), -turns))
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format=source.pix_fmt)
            frame.pts, frame.time_base = time, TIME_BASE
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    return path


def decoded(path: Path, spec: OutputSpec) -> tuple[list[np.ndarray], list[float]]:
    """The output's frames (RGB) and their times in seconds."""
    if spec.container is None:
        with zipfile.ZipFile(path) as archive:
            frames = [
                next(av.open(io.BytesIO(archive.read(name))).decode(video=0)).to_ndarray(format="rgb24")
                for name in sorted(archive.namelist())
            ]
        return frames, []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = (
            av.CodecContext.create("libvpx-vp9", "r") if spec is VP9_ALPHA_WEBM else stream.codec_context
        )
        pictures = [f for p in container.demux(stream) for f in decoder.decode(p)]
        times = [float(f.pts * stream.time_base) for f in pictures]
        return [f.to_ndarray(format="rgb24") for f in pictures], times


def check(
    source: Source, engine: FrameEngine, spec: OutputSpec, expected: tuple[int, int], tmp: Path
) -> None:
    clip = write_source(source, tmp)
    media = probe(str(clip))
    assert (media.width, media.height) == source.size  # upright, as users see it
    output = tmp / f"out.{spec.extension}"
    stats = render(str(clip), str(output), engine, spec)
    frames, times = decoded(output, spec)
    assert (stats.width, stats.height) == expected
    assert len(frames) == stats.frames == len(source.times)
    assert {(f.shape[1], f.shape[0]) for f in frames} == {expected}
    if times:  # the source's timestamps survive, gaps and all
        start = times[0]
        assert [round((t - start) * 1000) for t in times] == list(source.times)


MEDIA = MediaInfo(duration=1, has_video=True, has_audio=False, size_bytes=1)


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_gaze_redirect_renders_mp4_at_the_nearest_even_size(source: Source, tmp_path: Path) -> None:
    width, height = source.size
    check(source, GazeRedirector(1.0), H264_MP4, (width - width % 2, height - height % 2), tmp_path)


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_remove_background_renders_webm_at_the_exact_size(source: Source, tmp_path: Path) -> None:
    check(source, background_engine({}, MEDIA), VP9_ALPHA_WEBM, source.size, tmp_path)


@pytest.mark.parametrize("spec", [PRORES_4444_MOV, PNG_ZIP], ids=lambda s: s.extension)
def test_remove_background_keeps_odd_sizes_in_mov_and_png(spec: OutputSpec, tmp_path: Path) -> None:
    check(SOURCES[0], background_engine({}, MEDIA), spec, (321, 181), tmp_path)


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_super_resolution_renders_mp4_at_the_nearest_even_scaled_size(source: Source, tmp_path: Path) -> None:
    # ×1.5: 321 → 481.5 → 482, 181 → 271.5 → 272, 180 → 270
    expected = {(321, 181): (482, 272), (181, 321): (272, 482), (320, 180): (480, 270)}[source.size]
    check(source, FastUpscaler(1.5), H264_MP4, expected, tmp_path)


def test_learned_super_resolution_renders_an_odd_source(tmp_path: Path) -> None:
    """The learned model on CPU is slow: a small odd 4:4:4 source with two frames."""
    small = Source("small-odd-444", (161, 91), "libx264", "yuv444p", times=(0, 40))
    check(small, LearnedUpscaler(1.5), H264_MP4, (242, 136), tmp_path)


@pytest.mark.parametrize("source", SOURCES[1:3], ids=lambda s: s.name)
def test_rotated_sources_come_out_upright(source: Source, tmp_path: Path) -> None:
    """Not only the size: the picture is turned the way players turn it (compared with the upright scene)."""
    clip = write_source(source, tmp_path)
    render(str(clip), str(tmp_path / "out.mp4"), GazeRedirector(0.0), H264_MP4)
    frames, _ = decoded(tmp_path / "out.mp4", H264_MP4)
    for index, frame in enumerate(frames):
        upright = scene(source.size, index)[: frame.shape[0], : frame.shape[1]].astype(int)
        assert np.abs(frame.astype(int) - upright).mean() < 6
        assert np.abs(frame.astype(int) - upright[::-1, ::-1]).mean() > 20  # a half turn would differ


def test_a_source_that_changes_its_size_midway_renders_at_its_first_size(tmp_path: Path) -> None:
    """Two MPEG-TS parts, 320×180 then 240×136 (as a stream that adapts its resolution): the header reports the
    later size, the output keeps the first and the second part is resampled to it."""
    first = write_source(Source("first", (320, 180), "libx264", "yuv420p", "mpegts"), tmp_path)
    second = write_source(
        Source("second", (240, 136), "libx264", "yuv420p", "mpegts", (120, 160, 200)), tmp_path
    )
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    assert (probe(str(joined)).width, probe(str(joined)).height) == (320, 180)
    stats = render(str(joined), str(tmp_path / "out.mp4"), GazeRedirector(1.0), H264_MP4)
    frames, times = decoded(tmp_path / "out.mp4", H264_MP4)
    assert (stats.width, stats.height) == (320, 180)
    assert len(frames) == stats.frames == 6
    assert {(f.shape[1], f.shape[0]) for f in frames} == {(320, 180)}
    assert [round((t - times[0]) * 1000) for t in times] == [0, 40, 80, 120, 160, 200]


def test_the_reported_odd_source_completes_gaze_redirect_through_the_pipeline(
    papi: httpx.Client, pipeline_ctx: ServiceContext, tmp_path: Path
) -> None:
    """Issue 11's case end to end (API → ingest → worker with the real engines): it failed internal_error."""
    clip = write_source(SOURCES[0], tmp_path).read_bytes()
    with loopback_server() as origin, thread_worker(pipeline_ctx, "odd-size", load_registry("")):
        created = papi.post(
            "/v1/tasks/gaze-redirect", json={"source_url": origin.serve_bytes("/odd.mp4", clip)}
        )
        task = wait_for_task(papi, created.json()["id"], timeout=120)
    assert task["status"] == "completed", task
    assert (task["output"]["width"], task["output"]["height"]) == (320, 180)
    output = tmp_path / "output.mp4"
    output.write_bytes(httpx.get(task["output"]["url"], timeout=30).content)
    frames, _ = decoded(output, H264_MP4)
    assert [(f.shape[1], f.shape[0]) for f in frames] == [(320, 180)] * len(SOURCES[0].times)
