"""A segmented task's progress from its segments' reports: frame-weighted, the slowest segment's stage, and a
time-left estimate from the rates measured on the segments rendering now; and what a segment's engine may
leave for the whole video to decide."""

from __future__ import annotations

import pytest

from framelane.engines.base import Frame
from framelane.errors import TaskFailure
from framelane.models import ProgressStage, Segment
from framelane.services.render import SegmentState, _PartEngine, segmented_progress

SEGMENTS = [Segment(index=0, frames=100), Segment(index=1, frames=300)]


def test_nothing_reported_yet() -> None:
    assert segmented_progress(SEGMENTS, {}) == (5, ProgressStage.compositing, None)


def test_progress_is_weighted_by_frames() -> None:
    done_short = {0: SegmentState(ProgressStage.uploading, 100, 50.0, finished=True)}
    done_long = {1: SegmentState(ProgressStage.uploading, 300, 50.0, finished=True)}
    assert segmented_progress(SEGMENTS, done_short)[0] == 5 + 85 * 100 // 400
    assert segmented_progress(SEGMENTS, done_long)[0] == 5 + 85 * 300 // 400
    both = {**done_short, **done_long}
    assert segmented_progress(SEGMENTS, both)[0] == 90  # Stitch takes it from here


def test_stage_is_the_slowest_running_segment_and_time_left_uses_measured_rates() -> None:
    states = {
        0: SegmentState(ProgressStage.encoding, 100, 20.0),
        1: SegmentState(ProgressStage.compositing, 100, 10.0),
    }
    percent, stage, seconds = segmented_progress(SEGMENTS, states)
    assert stage is ProgressStage.compositing
    assert percent == 5 + 85 * 200 // 400
    assert seconds == 20  # 200 frames left over the 10 frames/s measured on the one segment still compositing


def test_a_segment_before_its_rate_is_measured_gives_no_estimate() -> None:
    states = {0: SegmentState(ProgressStage.downloading, 0, None)}
    assert segmented_progress(SEGMENTS, states) == (5, ProgressStage.downloading, None)


def test_reports_round_trip_through_the_broker_format() -> None:
    state = SegmentState(ProgressStage.compositing, 42, 12.5, finished=False)
    assert SegmentState.load(state.dump()) == state


class _FindsNothing:
    def __init__(self, code: str) -> None:
        self.code = code

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def process(self, frame: Frame) -> Frame:
        return frame

    def finish(self) -> None:
        raise TaskFailure(self.code, "nothing found")


def test_a_segment_that_finds_no_face_is_not_a_failure_by_itself() -> None:
    """ "No face in any frame" is about the whole video: one segment without faces must not fail the task."""
    empty = _PartEngine(_FindsNothing("no_face_detected"))
    empty.finish()
    assert empty.found_nothing is not None and empty.found_nothing.code == "no_face_detected"
    with pytest.raises(TaskFailure):
        _PartEngine(_FindsNothing("internal_error")).finish()
