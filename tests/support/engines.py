"""A TEST-ONLY engine (negates colours) for pipeline tests: loaded via FRAMELANE_ENGINE_PLUGINS, never shipped."""

from __future__ import annotations

import os
import time
from typing import Any

from framelane.engines.base import EngineRegistry, Frame
from framelane.models import MediaInfo, TaskType


class InvertEngine:
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def process(self, frame: Frame) -> Frame:
        if self.delay:
            time.sleep(self.delay)  # lets tests kill or cancel a worker mid-task
        return 255 - frame

    def finish(self) -> None:
        pass


def register(registry: EngineRegistry) -> None:
    delay = float(os.environ.get("FRAMELANE_TEST_ENGINE_DELAY", "0"))

    def factory(options: dict[str, Any], media: MediaInfo) -> InvertEngine:
        return InvertEngine(delay)

    for task_type in (TaskType.remove_background, TaskType.gaze_redirect, TaskType.super_resolution):
        registry.register(task_type, factory)
