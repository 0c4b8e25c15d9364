"""The `label` option: a small, legible "AI-edited" mark burned into every frame after the engine, for
deployers who must disclose deep fakes (EU AI Act Art. 50(4)). Machine-readable marking is the C2PA manifest."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from framelane.models import LabelPosition

if TYPE_CHECKING:  # base wraps engines with this module
    from framelane.engines.base import Frame, FrameEngine

TEXT = "AI-edited"
FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT_HEIGHT = 0.035  # of the frame's shorter side
MIN_TEXT_PIXELS = 10  # below this, letters stop being legible


class LabelledEngine:
    """Wraps an engine; draws a white label on a dark box in one corner (opaque, also on transparent frames)."""

    def __init__(self, inner: FrameEngine, position: LabelPosition) -> None:
        self.inner = inner
        self.position = position

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return self.inner.output_size(width, height)

    def process(self, frame: Frame) -> Frame:
        return burn_label(self.inner.process(frame), self.position)

    def finish(self) -> None:
        self.inner.finish()


def burn_label(frame: Frame, position: LabelPosition) -> Frame:
    height, width = frame.shape[:2]
    text_pixels = max(MIN_TEXT_PIXELS, round(min(height, width) * TEXT_HEIGHT))
    scale = cv2.getFontScaleFromHeight(FONT, text_pixels, 1)
    thickness = max(1, text_pixels // 10)
    (text_w, text_h), baseline = cv2.getTextSize(TEXT, FONT, scale, thickness)
    pad = max(2, text_pixels // 3)
    box_w, box_h = text_w + 2 * pad, text_h + baseline + 2 * pad
    margin = max(2, round(min(height, width) * 0.02))
    left = (
        margin if position in (LabelPosition.top_left, LabelPosition.bottom_left) else width - margin - box_w
    )
    top = margin if position in (LabelPosition.top_left, LabelPosition.top_right) else height - margin - box_h
    left, top = max(0, left), max(0, top)
    out = np.array(frame, dtype=np.uint8, copy=True)  # engines may hand out read-only or shared buffers
    opaque = (255,) if out.shape[2] == 4 else ()
    cv2.rectangle(out, (left, top), (left + box_w, top + box_h), (24, 24, 24, *opaque), thickness=-1)
    cv2.putText(
        out,
        TEXT,
        (left + pad, top + pad + text_h),
        FONT,
        scale,
        (255, 255, 255, *opaque),
        thickness,
        cv2.LINE_AA,
    )
    return out


def with_label(engine: FrameEngine, label: str | None) -> FrameEngine:
    """The engine itself, or wrapped to burn the label when the task asked for one."""
    return LabelledEngine(engine, LabelPosition(label)) if label else engine
