"""Time-left estimates: frames from the measured frame rate, transcription from the measured real-time factor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from framelane.services.eta import Eta
from framelane.transcription import pace


def test_eta_follows_the_measured_rate_after_warm_up() -> None:
    now = [100.0]
    eta = Eta(clock=lambda: now[0])
    assert eta.update(5, 105) is None  # the clock starts here: warm-up frames are not part of the rate
    now[0] += 0.5
    assert eta.update(10, 105) is None  # not measured for long enough yet
    now[0] += 1.5
    assert eta.update(25, 105) == 8  # 20 frames in 2 s → 80 frames left take 8 s
    now[0] += 8.0
    assert eta.update(105, 105) == 0


def test_eta_without_progress_has_no_estimate() -> None:
    now = [0.0]
    eta = Eta(clock=lambda: now[0])
    eta.update(3, 10)
    now[0] += 5
    assert eta.update(3, 10) is None
    assert eta.update(4, 10) == 30  # a single frame in 5 s is progress: 6 frames left take 30 s


@pytest.fixture
def fresh_pace() -> Iterator[None]:
    saved = pace._factor
    pace._factor = pace.INITIAL_REAL_TIME_FACTOR
    yield
    pace._factor = saved


@pytest.mark.usefixtures("fresh_pace")
def test_transcription_estimate_learns_the_real_time_factor() -> None:
    assert pace.seconds_for(60) == 15  # the initial 0.25 × 60 s
    pace.record(audio_seconds=10, wall_seconds=1)  # a fast machine: 0.1
    assert pace.seconds_for(60) == 11  # halfway from 0.25 to 0.1 = 0.175
    pace.record(audio_seconds=0, wall_seconds=3)  # no audio: nothing learned
    assert pace.seconds_for(60) == 11
