"""Output formats per task: container, codecs and pixel formats (alpha where the task needs it).

The output size rule (README, API section, "Output size rule"): the engine's size for the upright source —
the source's own size for remove_background and gaze_redirect, scale × it for super_resolution — exactly,
where the format takes any size (WebM/VP9, MOV/ProRes, PNG); MP4/H.264 is 4:2:0, which needs even sizes, so
there each side is the nearest even number (a tie goes down: 321 → 320, by dropping the last column). The
task's `output` reports the size written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from framelane.models import OutputFormat, TaskType


@dataclass(frozen=True)
class OutputSpec:
    extension: str
    container: str | None  # None: a zip of PNG frames
    video_codec: str
    pix_fmt: str
    audio_codec: str | None
    content_type: str
    alpha: bool
    codec_options: dict[str, str] = field(default_factory=dict)
    even_size: bool = False  # the encoder takes even widths and heights only (libx264 at 4:2:0)

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        """The output size for an engine size of width × height (the rule above)."""
        return (even(width), even(height)) if self.even_size else (width, height)


def even(size: float) -> int:
    """The even number nearest to `size` (ties go down), at least 2."""
    return 2 * max(1, math.ceil(size / 2 - 0.5))


H264_MP4 = OutputSpec(
    "mp4",
    "mp4",
    "libx264",
    "yuv420p",
    "aac",
    "video/mp4",
    False,
    {"preset": "veryfast", "crf": "20", "movflags": "+faststart"},
    even_size=True,
)
VP9_ALPHA_WEBM = OutputSpec(
    "webm",
    "webm",
    "libvpx-vp9",
    "yuva420p",
    "libopus",
    "video/webm",
    True,
    {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "auto-alt-ref": "0", "crf": "32", "b": "0"},
)
PRORES_4444_MOV = OutputSpec(
    "mov",
    "mov",
    "prores_ks",
    "yuva444p10le",
    "pcm_s16le",
    "video/quicktime",
    True,
    {"profile": "4", "vendor": "apl0"},
)
PNG_ZIP = OutputSpec("zip", None, "png", "rgba", None, "application/zip", True)


def output_spec(task_type: TaskType, options: dict[str, Any]) -> OutputSpec:
    if task_type is TaskType.remove_background:
        return {
            OutputFormat.webm: VP9_ALPHA_WEBM,
            OutputFormat.mov: PRORES_4444_MOV,
            OutputFormat.png: PNG_ZIP,
        }[OutputFormat(options.get("output_format", OutputFormat.webm))]
    return H264_MP4
