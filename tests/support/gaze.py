"""What the gaze quality tests and the quality report measure."""

from __future__ import annotations

from framelane.engines.face import Eye


def iris_offsets(eyes: tuple[Eye, Eye]) -> list[float]:
    """Horizontal iris offset from the eye centre, per eye (pixels)."""
    return [float(eye.iris[0] - eye.centre[0]) for eye in eyes]
