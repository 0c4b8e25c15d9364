"""The engine interface the worker runtime drives: RGB frames in, RGB or RGBA frames out."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from aws_lambda_powertools import Logger

from framelane.engines.label import with_label
from framelane.logs import SERVICE
from framelane.models import MediaInfo, TaskType

Frame = npt.NDArray[np.uint8]


class FrameEngine(Protocol):
    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """Output frame (width, height) for an input of (width, height)."""

    def process(self, frame: Frame) -> Frame:
        """One RGB frame (H×W×3) → RGB (H×W×3) or RGBA (H×W×4, straight alpha)."""

    def finish(self) -> None:
        """Called once after the last frame (frames without a detection, summary logging…)."""


ENGINE_ENTRY_POINTS = "framelane.engines"  # the entry-point group engines are installed under
logger = Logger(service=SERVICE, child=True)

EngineFactory = Callable[[dict[str, Any], MediaInfo], FrameEngine]


class EngineUnavailable(Exception):
    """No engine is installed for this task type in this worker."""


@dataclass
class EngineRegistry:
    factories: dict[TaskType, EngineFactory] = field(default_factory=dict)

    def register(self, task_type: TaskType, factory: EngineFactory) -> None:
        self.factories[task_type] = factory

    def create(self, task_type: TaskType, options: dict[str, Any], media: MediaInfo) -> FrameEngine:
        factory = self.factories.get(task_type)
        if factory is None:
            raise EngineUnavailable(f"no {task_type} engine is installed in this worker")
        return with_label(factory(options, media), options.get("label"))


def load_registry(plugins: str | None = None) -> EngineRegistry:
    """The installed engines (entry points of the `framelane.engines` group, ours included) that can load
    here, plus `FRAMELANE_ENGINE_PLUGINS` (comma-separated `module:function` entries, for engines that are not
    installed as a package, such as the tests'); each function receives the registry and registers engines."""
    registry = EngineRegistry()
    for entry_point in entry_points(group=ENGINE_ENTRY_POINTS):
        try:
            register = entry_point.load()
        except ImportError as exc:  # the engine's model stack is not installed here
            logger.warning("engine not available", extra={"engine": entry_point.name, "reason": str(exc)})
            continue
        register(registry)
    for entry in filter(
        None, (plugins if plugins is not None else os.environ.get("FRAMELANE_ENGINE_PLUGINS", "")).split(",")
    ):
        module_name, _, function_name = entry.strip().partition(":")
        getattr(importlib.import_module(module_name), function_name or "register")(registry)
    return registry
