"""Engines are found through the `framelane.engines` entry points (ours are declared in pyproject.toml), plus
FRAMELANE_ENGINE_PLUGINS for engines not installed as a package."""

from __future__ import annotations

from importlib.metadata import entry_points

from framelane.engines.base import ENGINE_ENTRY_POINTS, load_registry
from framelane.models import TaskType


def test_the_built_in_engines_are_entry_points() -> None:
    names = {entry_point.name for entry_point in entry_points(group=ENGINE_ENTRY_POINTS)}
    assert {"super_resolution", "remove_background", "gaze_redirect"} <= names
    registry = load_registry("")
    assert {TaskType.super_resolution, TaskType.remove_background, TaskType.gaze_redirect} <= set(
        registry.factories
    )


def test_an_environment_plugin_registers_after_the_installed_engines() -> None:
    registry = load_registry("tests.support.engines:register")
    for task_type in (TaskType.super_resolution, TaskType.remove_background, TaskType.gaze_redirect):
        assert registry.factories[task_type].__module__ == "tests.support.engines"
