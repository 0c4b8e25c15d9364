"""A failure in any stage of the render (decoder, engine, encoder) stops the other two and is raised by
`render`, instead of leaving a stage blocked on a queue while the worker's heartbeat keeps the task alive.
Each test has a deadline: a hang fails it."""

from __future__ import annotations

import dataclasses
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from framelane.engines.base import Frame
from framelane.errors import TaskFailure
from framelane.media.formats import H264_MP4
from framelane.media.samples import make_sample_clip
from framelane.media.transcode import RenderStopped, render
from tests.support.engines import InvertEngine

# 2 s at 25 fps: more frames than the queues between the stages hold, so no stage can finish on its own
SECONDS = 2


class FailingEngine(InvertEngine):
    def __init__(self, fail_at: int) -> None:
        super().__init__(0)
        self.fail_at = fail_at
        self.frames = 0

    def process(self, frame: Frame) -> Frame:
        self.frames += 1
        if self.frames == self.fail_at:
            raise RuntimeError("engine failed")
        return super().process(frame)


def _no_stage_left(before: set[threading.Thread]) -> bool:
    """No decode/encode thread this render started is still running."""
    return not any(
        t.name in {"decode", "encode"} and t.is_alive() for t in set(threading.enumerate()) - before
    )


def corrupt_clip(path: Path) -> Path:
    """A clip whose middle video packet is overwritten: the H.264 decoder rejects it after ~25 good frames."""
    clip = make_sample_clip(path, seconds=SECONDS, audio=False)
    with av.open(str(clip)) as container:
        offsets = [p.pos for p in container.demux(container.streams.video[0]) if p.pos is not None]
    data = bytearray(clip.read_bytes())
    start = offsets[len(offsets) // 2]
    data[start : start + 2000] = b"\xff" * 2000
    path.write_bytes(bytes(data))
    return path


@pytest.mark.timeout(60)
def test_a_failing_decoder_fails_the_render_as_an_invalid_source(tmp_path: Path) -> None:
    clip = corrupt_clip(tmp_path / "corrupt.mp4")
    before = set(threading.enumerate())
    with pytest.raises(TaskFailure) as failure:
        render(str(clip), str(tmp_path / "out.mp4"), InvertEngine(0), H264_MP4)
    assert failure.value.code == "invalid_source"
    assert "cannot be decoded" in failure.value.message
    assert _no_stage_left(before)


@pytest.mark.timeout(60)
def test_a_failing_engine_fails_the_render(tmp_path: Path) -> None:
    clip = make_sample_clip(tmp_path / "in.mp4", seconds=SECONDS)
    engine = FailingEngine(fail_at=3)
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="engine failed"):
        render(str(clip), str(tmp_path / "out.mp4"), engine, H264_MP4)
    assert engine.frames == 3
    assert _no_stage_left(before)


def noise_clip(path: Path, frames: int = 20) -> Path:
    """Lossless 4:4:4 noise: slow to decode, so the engine waits on the decoder, the case that used to hang
    (the decoder gave up without its end marker and left the engine waiting for ever)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "qp": "0"})
        video.width, video.height, video.pix_fmt = 320, 180, "yuv444p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (180, 320, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            for packet in video.encode(frame.reformat(format="yuv444p")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    return path


@pytest.mark.timeout(60)
def test_a_failing_encoder_fails_the_render(tmp_path: Path) -> None:
    """libx264 refuses the pixel format when it opens, at the first frame: the decoder and the engine,
    which have frames left, must stop too."""
    clip = noise_clip(tmp_path / "noise.mp4")
    refused = dataclasses.replace(H264_MP4, pix_fmt="rgb48le")
    before = set(threading.enumerate())
    with pytest.raises(av.FFmpegError):
        render(str(clip), str(tmp_path / "out.mp4"), InvertEngine(0), refused)
    assert _no_stage_left(before)


@pytest.mark.timeout(60)
def test_a_raising_stop_check_stops_the_render_between_frames(tmp_path: Path) -> None:
    """`check_stop` stops a render only by raising (a shutdown, a cancel): the engine sees no frame after it
    raised, and the decoder and encoder stop too."""
    clip = make_sample_clip(tmp_path / "in.mp4", seconds=SECONDS)
    engine = FailingEngine(fail_at=0)  # never fails: counts the frames it was given
    checks = 0

    def stop_at_the_fifth_frame() -> None:
        nonlocal checks
        checks += 1
        if checks == 5:
            raise RenderStopped("worker is shutting down")

    before = set(threading.enumerate())
    with pytest.raises(RenderStopped):
        render(str(clip), str(tmp_path / "out.mp4"), engine, H264_MP4, check_stop=stop_at_the_fifth_frame)
    assert engine.frames == 4
    assert _no_stage_left(before)
