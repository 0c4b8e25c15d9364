"""Segments at the media level, every output format: a stateful engine (temporal smoothing, like the matte and
gaze trackers) rendered segment by segment with warm-up, then stitched, matches one unsegmented render."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest

from framelane.engines.base import Frame
from framelane.media.formats import H264_MP4, PNG_ZIP, PRORES_4444_MOV, VP9_ALPHA_WEBM, OutputSpec
from framelane.media.samples import make_sample_clip
from framelane.media.segments import Cut, plan_cuts, stitch
from framelane.media.transcode import render


class Smoothing:
    """Output = exponential moving average of the frames seen so far: wrong for a while after a cold start."""

    def __init__(self) -> None:
        self.state: np.ndarray | None = None

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def process(self, frame: Frame) -> Frame:
        pixels = frame.astype(np.float32)
        self.state = pixels if self.state is None else 0.5 * self.state + 0.5 * pixels
        return self.state.astype(np.uint8)

    def finish(self) -> None:
        pass


def _decoded(path: Path, spec: OutputSpec) -> tuple[list[np.ndarray], list[int | None]]:
    if spec.container is None:
        with zipfile.ZipFile(path) as archive:
            names = sorted(archive.namelist())
            frames = [
                next(av.open(io.BytesIO(archive.read(n))).decode(video=0)).to_ndarray(format="rgb24")
                for n in names
            ]
        return frames, list(range(len(frames)))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = list(container.decode(stream))
    return [f.to_ndarray(format="rgb24") for f in decoded], [f.pts for f in decoded]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 10 * float(np.log10(255.0**2 / max(mse, 1e-9)))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sample_clip(
        tmp_path_factory.mktemp("seg") / "clip.mp4", seconds=3, width=96, height=64, keyframe_interval=25
    )


def test_cuts_start_on_keyframes_and_cover_every_frame(clip: Path) -> None:
    cuts = plan_cuts(str(clip), segment_seconds=1.0, warmup_seconds=0.5)
    assert [c.frames for c in cuts] == [25, 25, 25]
    assert cuts[0].start_pts is None and cuts[-1].end_pts is None
    assert [c.end_pts for c in cuts[:-1]] == [c.start_pts for c in cuts[1:]]
    assert cuts[1].warmup_pts == 0 and cuts[2].warmup_pts == cuts[1].start_pts  # the keyframe ≥ 0.5 s before
    # a last piece under half a segment joins the one before it
    assert [c.frames for c in plan_cuts(str(clip), segment_seconds=1.2, warmup_seconds=0)] == [50, 25]


@pytest.mark.parametrize(
    "spec", [H264_MP4, VP9_ALPHA_WEBM, PRORES_4444_MOV, PNG_ZIP], ids=lambda s: s.extension
)
def test_stitched_segments_match_one_render(spec: OutputSpec, clip: Path, tmp_path: Path) -> None:
    whole = tmp_path / f"whole.{spec.extension}"
    render(str(clip), str(whole), Smoothing(), spec)
    cuts = plan_cuts(str(clip), segment_seconds=1.0, warmup_seconds=0.5)
    parts = []
    for number, cut in enumerate(cuts):
        part = tmp_path / f"part{number}.{spec.extension}"
        stats = render(str(clip), str(part), Smoothing(), spec, segment=cut)
        assert stats.frames == cut.frames
        parts.append(str(part))
    stitched = tmp_path / f"stitched.{spec.extension}"
    assert stitch(parts, str(clip), str(stitched), spec) == 75

    got, got_pts = _decoded(stitched, spec)
    want, want_pts = _decoded(whole, spec)
    assert len(got) == len(want) == 75 and got_pts == want_pts
    # warmed up: the first kept frame of a segment is the unsegmented one, up to the codec's loss elsewhere
    fidelity = [_psnr(a, b) for a, b in zip(got, want, strict=True)]
    elsewhere = min(value for i, value in enumerate(fidelity) if i >= 25 and i not in (25, 50))
    for seam in (25, 50):
        assert fidelity[seam] >= min(elsewhere - 1.0, 40), (seam, fidelity[seam], elsewhere)
    if spec.audio_codec is not None:
        with av.open(str(stitched)) as out, av.open(str(whole)) as ref:
            assert out.streams.audio[0].codec_context.name == ref.streams.audio[0].codec_context.name
            assert out.streams.audio[0].frames == ref.streams.audio[0].frames or out.duration == ref.duration


def test_without_warm_up_a_seam_shows(clip: Path, tmp_path: Path) -> None:
    """The check above can fail: a cold engine at a segment start differs from the unsegmented render."""
    whole, part = tmp_path / "whole.mov", tmp_path / "cold.mov"
    render(str(clip), str(whole), Smoothing(), PRORES_4444_MOV)
    cut = plan_cuts(str(clip), segment_seconds=1.0, warmup_seconds=0.5)[1]
    cold = Cut(cut.start_pts, cut.end_pts, cut.start_pts, cut.frames)
    render(str(clip), str(part), Smoothing(), PRORES_4444_MOV, segment=cold)
    got, _ = _decoded(part, PRORES_4444_MOV)
    want, _ = _decoded(whole, PRORES_4444_MOV)
    assert _psnr(got[0], want[25]) < 30
