"""The renderer's three alpha outputs carry the engine's alpha, and audio where the container takes it: VP9 in
WebM, ProRes 4444 in MOV (both converted on the engine thread) and a zip of PNG frames."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest

from framelane.engines.base import Frame
from framelane.media.formats import PNG_ZIP, PRORES_4444_MOV, VP9_ALPHA_WEBM, OutputSpec
from framelane.media.samples import make_sample_clip
from framelane.media.transcode import render

ALPHA = 96


class HalfTransparent:
    """Left half opaque, right half at ALPHA."""

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def process(self, frame: Frame) -> Frame:
        rgba = np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)])
        rgba[:, frame.shape[1] // 2 :, 3] = ALPHA
        return rgba

    def finish(self) -> None:
        pass


def _alphas(path: Path, spec: OutputSpec) -> tuple[list[np.ndarray], bool]:
    if spec.container is None:
        with zipfile.ZipFile(path) as archive:
            frames = [
                av.open(io.BytesIO(archive.read(name))).decode(video=0).__next__().to_ndarray(format="rgba")
                for name in sorted(archive.namelist())
            ]
        return [f[..., 3] for f in frames], False
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = (
            av.CodecContext.create("libvpx-vp9", "r") if spec is VP9_ALPHA_WEBM else stream.codec_context
        )
        alphas = [
            frame.to_ndarray(format="rgba")[..., 3]
            for packet in container.demux(stream)
            for frame in decoder.decode(packet)
        ]
        return alphas, bool(container.streams.audio)


@pytest.mark.parametrize("spec", [VP9_ALPHA_WEBM, PRORES_4444_MOV, PNG_ZIP], ids=lambda s: s.extension)
def test_alpha_reaches_every_output_format(spec: OutputSpec, tmp_path: Path) -> None:
    clip = make_sample_clip(tmp_path / "in.mp4", seconds=1, width=160, height=120)
    stats = render(str(clip), str(tmp_path / f"out.{spec.extension}"), HalfTransparent(), spec)
    alphas, has_audio = _alphas(tmp_path / f"out.{spec.extension}", spec)
    assert stats.frames == len(alphas) == 25
    for alpha in alphas:
        assert np.abs(alpha[:, :70].astype(int) - 255).max() <= 2
        assert np.abs(alpha[:, 90:].astype(int) - ALPHA).max() <= 3
    assert has_audio == (spec.audio_codec is not None)
