"""remove_background: MediaPipe selfie segmentation (general 256×256, landscape 256×144 for wide frames) run with
LiteRT, temporal smoothing so the matte does not flicker, and a guided filter that snaps the soft matte to the
frame's edges. Output: RGBA with straight alpha."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from framelane.engines.base import EngineRegistry, Frame
from framelane.engines.litert import LiteRtModel
from framelane.models import MediaInfo, TaskType
from framelane.weights import SELFIE_SEGMENTATION, locate

Matte = npt.NDArray[np.float32]
WIDE_ASPECT = 1.5  # wider than this uses the landscape model
ZOOM_MARGIN = 1.1  # crop side / the people's bounding-box side
REDETECT_EVERY = 10  # frames between whole-frame passes while people are tracked
ALPHA_LOW, ALPHA_HIGH = 0.05, 0.55  # person probability → alpha ramp
APPEAR_RATE = 0.35  # share of a rise taken at once where last frame's matte was background
Box = tuple[int, int, int, int]  # x0, y0, x1, y1


def _crop_box(person: npt.NDArray[np.bool_]) -> Box | None:
    """The square ZOOM_MARGIN × the people's extent, clipped to the frame; None when there is nobody, or when
    the square would hold the whole frame anyway."""
    ys, xs = np.nonzero(person)
    if len(xs) == 0:
        return None
    height, width = person.shape
    size = int(max(xs.max() - xs.min(), ys.max() - ys.min()) * ZOOM_MARGIN) + 2
    if size >= max(height, width):
        return None
    cx, cy = (int(xs.max()) + int(xs.min())) // 2, (int(ys.max()) + int(ys.min())) // 2
    x0, y0 = max(0, cx - size // 2), max(0, cy - size // 2)
    return x0, y0, min(width, x0 + size), min(height, y0 + size)


def _cut_off(person: npt.NDArray[np.bool_], box: Box) -> bool:
    """Someone reaches an edge of the crop that is not an edge of the frame: part of them may lie outside."""
    x0, y0, x1, y1 = box
    height, width = person.shape
    inside = person[y0:y1, x0:x1]
    return bool(
        (y0 > 0 and inside[0].any())
        or (y1 < height and inside[-1].any())
        or (x0 > 0 and inside[:, 0].any())
        or (x1 < width and inside[:, -1].any())
    )


def _mean(image: Matte, radius: int) -> Matte:
    return np.asarray(cv2.boxFilter(image, cv2.CV_32F, (2 * radius + 1, 2 * radius + 1)), dtype=np.float32)


def guided_filter_coefficients(guide: Matte, source: Matte, radius: int, eps: float) -> tuple[Matte, Matte]:
    """He et al.'s guided filter (gray guide): per-pixel (a, b) such that a·guide + b is `source` smoothed
    along `guide`'s edges. The linear model is smooth, so (a, b) computed on a reduced image and upsampled
    refine the full-resolution frame as well (the "fast guided filter")."""
    mean_i, mean_p = _mean(guide, radius), _mean(source, radius)
    covariance = _mean(guide * source, radius) - mean_i * mean_p
    variance = _mean(guide * guide, radius) - mean_i * mean_i
    a = np.asarray(covariance / (variance + eps), dtype=np.float32)
    b = mean_p - a * mean_i
    return _mean(a, radius), _mean(b, radius)


def downscale(image: Frame, size: tuple[int, int]) -> Frame:
    """`image` at `size` (width, height), anti-aliased: 2×2-box halvings while at least 2× too large (OpenCV's
    fastest resize path), then an area resize for the rest."""
    while image.shape[1] >= 2 * size[0] and image.shape[0] >= 2 * size[1]:
        half = (image.shape[1] // 2, image.shape[0] // 2)
        image = np.asarray(cv2.resize(image, half, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    if (image.shape[1], image.shape[0]) == size:
        return image
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


class Segmenter:
    """One selfie-segmentation model: person probability for an image, letterboxed to the model's aspect ratio
    (squashing distorts people)."""

    def __init__(self, model_path: Path) -> None:
        self.model = LiteRtModel(model_path)
        _, self.height, self.width, _ = self.model.input_shape

    def __call__(self, image: Frame, size: tuple[int, int]) -> Matte:
        """Probability for `image`, returned at `size` (width, height)."""
        height, width = image.shape[:2]
        scale = min(self.width / width, self.height / height)
        fit_w, fit_h = max(1, round(width * scale)), max(1, round(height * scale))
        left, top = (self.width - fit_w) // 2, (self.height - fit_h) // 2
        canvas = np.zeros((self.height, self.width, 3), dtype=np.float32)
        canvas[top : top + fit_h, left : left + fit_w] = (
            downscale(image, (fit_w, fit_h)).astype(np.float32) / 255.0
        )
        (probability,) = self.model.run(canvas[None])
        raw = probability[0, top : top + fit_h, left : left + fit_w, 0]
        return np.asarray(cv2.resize(raw, size, interpolation=cv2.INTER_LINEAR), dtype=np.float32)


class BackgroundRemover:
    """The matte is computed at a work resolution of about 180 lines (the model sees 144–256 anyway); only the
    guided filter's final linear model is applied at full resolution, which restores the frame's own edges.
    The people are segmented on a square crop around them (see `_person`)."""

    def __init__(self, models: Path, *, smoothing: float = 0.6) -> None:
        self.general = Segmenter(models / "selfie_segmentation.tflite")
        self.landscape = Segmenter(models / "selfie_segmentation_landscape.tflite")
        self.smoothing = smoothing
        self._previous: Matte | None = None
        self._tracked: Box | None = None
        self._frame_index = 0

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def _whole_frame(self, image: Frame, size: tuple[int, int]) -> Matte:
        wide = image.shape[1] / image.shape[0] > WIDE_ASPECT
        return (self.landscape if wide else self.general)(image, size)

    def _zoomed(self, frame: Frame, detailed: Frame, box: Box, size: tuple[int, int]) -> Matte:
        """The general model on the square `box` (work-resolution pixels), zero elsewhere. The crop comes from
        `detailed` (the refinement resolution) when that still gives the model all its pixels, else from the
        full-resolution `frame`."""
        x0, y0, x1, y1 = box
        source = detailed if (y1 - y0) * detailed.shape[0] / size[1] >= self.general.height else frame
        scale_x, scale_y = source.shape[1] / size[0], source.shape[0] / size[1]
        crop = source[round(y0 * scale_y) : round(y1 * scale_y), round(x0 * scale_x) : round(x1 * scale_x)]
        person = np.zeros((size[1], size[0]), dtype=np.float32)
        person[y0:y1, x0:x1] = self.general(crop, (x1 - x0, y1 - y0))
        return person

    def _person(self, frame: Frame, detailed: Frame, small: Frame, size: tuple[int, int]) -> Matte:
        """Person probability at work resolution, from the general model on a square crop around the people:
        about twice the model pixels on them that a whole-frame pass gives a 16:9 frame, for sharper mattes,
        small subjects found and steadier calls on what they hold. The crop follows the last frame's matte;
        a whole-frame pass (the landscape model for wide frames) places it when nobody is tracked, every
        REDETECT_EVERY frames (people who walk in), and when the tracked crop cut someone off."""
        if self._tracked is not None and self._frame_index % REDETECT_EVERY:
            person = self._zoomed(frame, detailed, self._tracked, size)
            if not _cut_off(person > 0.5, self._tracked):
                return person
        whole = self._whole_frame(small, size)
        box = _crop_box(whole > 0.5)
        return whole if box is None else self._zoomed(frame, detailed, box, size)

    def _alpha(self, frame: Frame) -> Frame:
        """Alpha per pixel (0..255) at full resolution.

        Three resolutions: the models' work resolution (~180 lines), where the mask is smoothed over time and
        the guided filter's coefficients are computed; the refinement resolution (~360 lines), where that
        linear model snaps the alpha to the frame's own edges; and the frame's, reached by one bilinear
        upsampling of the finished alpha (a 720p frame's edges move by less than a pixel)."""
        height, width = frame.shape[:2]
        rgb = np.ascontiguousarray(frame[..., :3])
        subsample = max(1, min(height, width) // 180)
        refine = max(1, subsample // 2)
        work_size = (max(1, width // subsample), max(1, height // subsample))
        refine_size = (max(1, width // refine), max(1, height // refine))
        detailed = downscale(rgb, refine_size)
        small = downscale(detailed, work_size)
        mask = self._person(rgb, detailed, small, work_size)
        self._tracked = _crop_box(mask > 0.5)
        self._frame_index += 1
        if self._previous is not None and self._previous.shape == mask.shape:
            # follow real motion at once, damp small frame-to-frame jitter
            change = mask - self._previous
            weight = np.clip(np.abs(change) * 4.0, 1.0 - self.smoothing, 1.0)
            # Hysteresis: what was background last frame is admitted at APPEAR_RATE per frame, so a one-frame
            # false detection (a parked bicycle, a shadow) stays under the alpha ramp instead of flashing.
            weight[(self._previous < ALPHA_LOW) & (change > 0)] = APPEAR_RATE
            mask = self._previous + change * weight
        self._previous = mask
        # The model is under-confident on people's edges and what they hold (MediaPipe's own examples cut at
        # 0.1): a ramp over [ALPHA_LOW, ALPHA_HIGH] makes those opaque while the background stays at zero.
        alpha = np.clip((mask - ALPHA_LOW) * (1.0 / (ALPHA_HIGH - ALPHA_LOW)), 0.0, 1.0)
        small_guide = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) * (1.0 / 255.0)
        radius = max(1, round(min(height, width) / 160) // subsample)
        a, b = guided_filter_coefficients(small_guide, alpha, radius, 1e-3)
        b *= 255.0  # a·guide (0..255) + 255·b is the alpha in 0..255
        if refine_size != work_size:
            a = np.asarray(cv2.resize(a, refine_size, interpolation=cv2.INTER_LINEAR), dtype=np.float32)
            b = np.asarray(cv2.resize(b, refine_size, interpolation=cv2.INTER_LINEAR), dtype=np.float32)
        refined = cv2.multiply(a, cv2.cvtColor(detailed, cv2.COLOR_RGB2GRAY), dtype=cv2.CV_32F)
        cv2.add(refined, b, dst=refined)
        cv2.threshold(refined, 0.0, 0.0, cv2.THRESH_TOZERO, dst=refined)  # no negative alpha
        alpha8 = np.asarray(cv2.convertScaleAbs(refined), dtype=np.uint8)  # rounds and saturates at 255
        if refine_size == (width, height):
            return alpha8
        return np.asarray(cv2.resize(alpha8, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)

    def matte(self, frame: Frame) -> Matte:
        """Alpha per pixel (0..1): person probability, temporally smoothed, mapped to alpha and edge-refined."""
        return self._alpha(frame).astype(np.float32) * (1.0 / 255.0)

    def process(self, frame: Frame) -> Frame:
        rgba = np.asarray(
            cv2.cvtColor(np.ascontiguousarray(frame[..., :3]), cv2.COLOR_RGB2RGBA), dtype=np.uint8
        )
        cv2.insertChannel(self._alpha(frame), rgba, 3)
        return rgba

    def finish(self) -> None:
        self._previous, self._tracked, self._frame_index = None, None, 0


def create(options: dict[str, Any], media: MediaInfo) -> BackgroundRemover:
    return BackgroundRemover(locate(SELFIE_SEGMENTATION))  # each model load logs its model and device


def register(registry: EngineRegistry) -> None:
    registry.register(TaskType.remove_background, create)
