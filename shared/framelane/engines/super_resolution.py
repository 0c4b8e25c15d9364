"""super_resolution engines. `fast`: Lanczos resampling + unsharp masking (classical, CPU, real time).

The learned mode (Real-ESRGAN) is a separate engine; a worker without it fails such tasks with a clear error.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from framelane.engines.base import EngineRegistry, EngineUnavailable, Frame, FrameEngine
from framelane.models import MediaInfo, SuperResolutionMode, TaskType

SHARPEN_AMOUNT = 0.6
SHARPEN_SIGMA = 1.0


def output_dimensions(width: int, height: int, scale: float) -> tuple[int, int]:
    """`scale` × the input, rounded to even numbers (4:2:0 video needs even sizes)."""
    return 2 * max(1, round(width * scale / 2)), 2 * max(1, round(height * scale / 2))


class FastUpscaler:
    def __init__(self, scale: float) -> None:
        self.scale = scale

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return output_dimensions(width, height, self.scale)

    def process(self, frame: Frame) -> Frame:
        height, width = frame.shape[:2]
        size = self.output_size(width, height)
        upscaled = cv2.resize(frame, size, interpolation=cv2.INTER_LANCZOS4)
        blurred = cv2.GaussianBlur(upscaled, (0, 0), SHARPEN_SIGMA)
        sharpened = cv2.addWeighted(upscaled, 1 + SHARPEN_AMOUNT, blurred, -SHARPEN_AMOUNT, 0)
        return np.asarray(sharpened, dtype=np.uint8)

    def finish(self) -> None:
        pass


def create(options: dict[str, Any], media: MediaInfo) -> FrameEngine:
    mode = SuperResolutionMode(options.get("mode", SuperResolutionMode.learned))
    if mode is SuperResolutionMode.fast:
        return FastUpscaler(float(options.get("scale", 2)))
    raise EngineUnavailable(
        "the learned super-resolution engine is not installed in this worker; use mode=fast"
    )


def register(registry: EngineRegistry) -> None:
    registry.register(TaskType.super_resolution, create)
