"""The offline engine's measured real-time factor (wall seconds per second of audio), for the time-left
estimate of a transcription that is about to start. Kept light: the services import it without the model."""

from __future__ import annotations

import math

# Whisper base int8 on a 2-core CPU, as the transcription bench measures it; replaced by the first measurement.
INITIAL_REAL_TIME_FACTOR = 0.25
_SMOOTHING = 0.5
_factor = INITIAL_REAL_TIME_FACTOR


def record(audio_seconds: float, wall_seconds: float) -> None:
    """One finished transcription: blend its real-time factor into the running figure."""
    global _factor
    if audio_seconds > 0:
        _factor += (wall_seconds / audio_seconds - _factor) * _SMOOTHING


def seconds_for(audio_seconds: float) -> int:
    """Estimated wall seconds to transcribe `audio_seconds` of audio."""
    return math.ceil(audio_seconds * _factor)
