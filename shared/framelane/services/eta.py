"""Time-left estimates for progress: from the rate the work is measured to go at, not from guesses."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

WARMUP_SECONDS = 1.0  # no estimate until the rate has been measured for this long


class Eta:
    """Seconds left of a count of work units (frames), from the rate measured since the first update: the
    first frames (model warm-up) are left out of the rate by starting the clock at the first update."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start: tuple[float, float] | None = None

    def update(self, done: float, total: float) -> int | None:
        """None until WARMUP_SECONDS of work have been measured; then whole seconds left (0 when done)."""
        now = self._clock()
        if self._start is None:
            self._start = (now, done)
            return None
        elapsed, progressed = now - self._start[0], done - self._start[1]
        if elapsed < WARMUP_SECONDS or progressed <= 0:
            return None
        return max(0, math.ceil((total - done) * elapsed / progressed))
