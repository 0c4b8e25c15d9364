"""remove_background: MediaPipe selfie segmentation (general 256×256, landscape 256×144 for wide frames) run with
LiteRT, temporal smoothing so the matte does not flicker, and a guided filter that snaps the soft matte to the
frame's edges. Output: RGBA with straight alpha."""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from ai_edge_litert.interpreter import Interpreter
from aws_lambda_powertools import Logger

from framelane.engines.base import EngineRegistry, Frame
from framelane.models import MediaInfo, TaskType
from framelane.weights import SELFIE_SEGMENTATION, locate

logger = Logger(service="framelane-engines")
Matte = npt.NDArray[np.float32]
WIDE_ASPECT = 1.5  # wider than this uses the landscape model


def guided_filter(guide: Matte, source: Matte, radius: int, eps: float, subsample: int = 1) -> Matte:
    """He et al.'s guided filter (gray guide): edge-aware smoothing of `source` along `guide`'s edges.

    With `subsample` > 1 the coefficients are computed on a reduced image and upsampled (the "fast guided
    filter"): the linear model is smooth, so this keeps the edges while cutting the cost by `subsample`².
    """
    height, width = guide.shape
    small_guide, small_source = guide, source
    if subsample > 1:
        size = (max(1, width // subsample), max(1, height // subsample))
        small_guide = np.asarray(cv2.resize(guide, size, interpolation=cv2.INTER_AREA), dtype=np.float32)
        small_source = np.asarray(cv2.resize(source, size, interpolation=cv2.INTER_AREA), dtype=np.float32)
        radius = max(1, radius // subsample)
    window = (2 * radius + 1, 2 * radius + 1)

    def mean(image: npt.NDArray[np.floating[Any]]) -> Matte:
        return np.asarray(cv2.boxFilter(image, cv2.CV_32F, window), dtype=np.float32)

    mean_i, mean_p = mean(small_guide), mean(small_source)
    covariance = mean(small_guide * small_source) - mean_i * mean_p
    variance = mean(small_guide * small_guide) - mean_i * mean_i
    a = covariance / (variance + eps)
    b = mean_p - a * mean_i
    mean_a, mean_b = mean(a), mean(b)
    if subsample > 1:
        mean_a = np.asarray(
            cv2.resize(mean_a, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32
        )
        mean_b = np.asarray(
            cv2.resize(mean_b, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32
        )
    return np.asarray(mean_a * guide + mean_b, dtype=np.float32)


class BackgroundRemover:
    def __init__(self, model_path: str, *, smoothing: float = 0.6) -> None:
        self.interpreter = Interpreter(model_path=model_path, num_threads=os.cpu_count() or 1)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self._height, self._width = (int(v) for v in self._input["shape"][1:3])
        self.smoothing = smoothing
        self._previous: Matte | None = None

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def _segment(self, image: Frame) -> Matte:
        """One model pass over `image`, letterboxed to the model's aspect ratio (squashing distorts people)."""
        height, width = image.shape[:2]
        scale = min(self._width / width, self._height / height)
        fit_w, fit_h = max(1, round(width * scale)), max(1, round(height * scale))
        left, top = (self._width - fit_w) // 2, (self._height - fit_h) // 2
        canvas = np.zeros((self._height, self._width, 3), dtype=np.float32)
        canvas[top : top + fit_h, left : left + fit_w] = (
            cv2.resize(image, (fit_w, fit_h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        )
        self.interpreter.set_tensor(self._input["index"], canvas[None])
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self._output["index"])[0, top : top + fit_h, left : left + fit_w, 0]
        return np.asarray(cv2.resize(raw, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32)

    def _zoomed(self, frame: Frame, coarse: Matte) -> Matte:
        """Second pass on a square crop around the person: more model pixels on them, sharper mattes."""
        step = 4  # the bounding box needs no full resolution
        ys, xs = np.nonzero(coarse[::step, ::step] > 0.5)
        ys, xs = ys * step, xs * step
        height, width = coarse.shape
        if len(xs) == 0:
            return coarse
        size = int(max(xs.max() - xs.min(), ys.max() - ys.min()) * 1.25) + 2
        if size >= 0.8 * max(height, width):
            return coarse
        cx, cy = (xs.max() + xs.min()) // 2, (ys.max() + ys.min()) // 2
        x0, y0 = max(0, cx - size // 2), max(0, cy - size // 2)
        x1, y1 = min(width, x0 + size), min(height, y0 + size)
        refined = np.zeros_like(coarse)
        refined[y0:y1, x0:x1] = self._segment(frame[y0:y1, x0:x1])
        return refined

    def matte(self, frame: Frame) -> Matte:
        """Person probability per pixel (0..1), temporally smoothed and edge-refined."""
        height, width = frame.shape[:2]
        rgb = np.ascontiguousarray(frame[..., :3])
        mask = self._zoomed(rgb, self._segment(rgb))
        if self._previous is not None and self._previous.shape == mask.shape:
            # follow real motion at once, damp small frame-to-frame jitter
            change = np.abs(mask - self._previous)
            weight = np.clip(change * 4.0, 1.0 - self.smoothing, 1.0)
            mask = self._previous + (mask - self._previous) * weight
        self._previous = mask
        guide = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        radius = max(2, round(min(height, width) / 160))
        subsample = max(1, min(height, width) // 180)
        return np.clip(guided_filter(guide, mask, radius, 1e-3, subsample), 0.0, 1.0)

    def process(self, frame: Frame) -> Frame:
        rgba = np.empty((*frame.shape[:2], 4), dtype=np.uint8)
        rgba[..., :3] = frame[..., :3]
        rgba[..., 3] = self.matte(frame) * 255.0 + 0.5
        return rgba

    def finish(self) -> None:
        self._previous = None


def create(options: dict[str, Any], media: MediaInfo) -> BackgroundRemover:
    directory = locate(SELFIE_SEGMENTATION)
    wide = bool(media.width and media.height and media.width / media.height > WIDE_ASPECT)
    name = "selfie_segmentation_landscape.tflite" if wide else "selfie_segmentation.tflite"
    logger.info("background removal", extra={"model": name, "device": "cpu (LiteRT XNNPACK)"})
    return BackgroundRemover(str(directory / name))


def register(registry: EngineRegistry) -> None:
    registry.register(TaskType.remove_background, create)
