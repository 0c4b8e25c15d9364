"""What a manifest says per task: `c2pa.opened` first, the IPTC digital source type that fits the engine (trained
model or classical), the label, the task facts; the engine facts pick the weights the engine really loads."""

from __future__ import annotations

from typing import Any

import numpy as np

from framelane.engines.label import LabelledEngine, burn_label
from framelane.engines.super_resolution import FastUpscaler, LearnedUpscaler
from framelane.models import LabelPosition, TaskType
from framelane.provenance.facts import engine_facts
from framelane.provenance.manifest import (
    ALGORITHMICALLY_ENHANCED,
    COMPOSITE_WITH_TRAINED,
    EngineFacts,
    TaskFacts,
    manifest_definition,
)
from framelane.weights import FACE_MESH, SPAN

GAZE = EngineFacts("framelane.engines.gaze.GazeRedirector", FACE_MESH.name, {"face_landmark.tflite": "ab"})


def _facts(task_type: TaskType, options: dict[str, Any], engine: EngineFacts = GAZE) -> TaskFacts:
    return TaskFacts("task_1", task_type, options, engine, "cd" * 32)


def _actions(facts: TaskFacts) -> list[dict[str, Any]]:
    definition = manifest_definition(facts, "output.mp4", "video/mp4")
    return list(definition["assertions"][0]["data"]["actions"])


def test_gaze_redirect_is_an_edit_with_trained_algorithmic_media() -> None:
    actions = _actions(_facts(TaskType.gaze_redirect, {"intensity": 0.8}))
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[0]["parameters"] == {"ingredientIds": ["source"]}
    assert actions[1]["digitalSourceType"] == COMPOSITE_WITH_TRAINED
    assert "intensity 0.8" in actions[1]["description"]
    assert actions[1]["parameters"] == {"task_id": "task_1", "engine": GAZE.name, "model": "face-mesh"}


def test_super_resolution_source_type_depends_on_a_trained_model_being_used() -> None:
    learned = _facts(TaskType.super_resolution, {"scale": 2}, EngineFacts("x.LearnedUpscaler", "span"))
    fast = _facts(TaskType.super_resolution, {"scale": 2}, EngineFacts("x.FastUpscaler"))
    assert [a["action"] for a in _actions(learned)] == ["c2pa.opened", "c2pa.resized", "c2pa.edited"]
    assert _actions(learned)[2]["digitalSourceType"] == COMPOSITE_WITH_TRAINED
    assert _actions(fast)[2]["digitalSourceType"] == ALGORITHMICALLY_ENHANCED


def test_the_label_is_an_action_and_the_task_assertion_carries_the_facts() -> None:
    facts = _facts(TaskType.remove_background, {"output_format": "png", "label": "top_left"})
    definition = manifest_definition(facts, "frame_000003.png", "image/png", frame=3)
    actions = definition["assertions"][0]["data"]["actions"]
    assert "top_left" in actions[-1]["description"] and "AI-edited" in actions[-1]["description"]
    task = definition["assertions"][1]
    assert task["label"] == "com.framelane.task"
    assert task["data"] == {
        "task_id": "task_1",
        "task_type": "remove_background",
        "options": {"output_format": "png", "label": "top_left"},
        "engine": GAZE.name,
        "model": "face-mesh",
        "weights_sha256": {"face_landmark.tflite": "ab"},
        "source_sha256": "cd" * 32,
        "frame": 3,
    }
    assert definition["claim_generator_info"] == [{"name": "Framelane", "version": "0.1.0"}]


def test_engine_facts_name_the_weights_the_engine_loads() -> None:
    facts = engine_facts(LearnedUpscaler(3))  # scale 3 runs the ×4 network
    assert facts.name == "framelane.engines.super_resolution.LearnedUpscaler" and facts.model == "span"
    assert facts.weights == {f.name: f.sha256 for f in SPAN.files if f.name.startswith("spanx4_")}
    wrapped = engine_facts(LabelledEngine(FastUpscaler(2), LabelPosition.top_left))
    assert wrapped == EngineFacts("framelane.engines.super_resolution.FastUpscaler")


def test_the_label_is_drawn_in_the_asked_corner_and_opaque_on_transparent_frames() -> None:
    frame = np.zeros((360, 640, 4), np.uint8)  # fully transparent
    for position in LabelPosition:
        alpha = burn_label(frame, position)[..., 3]
        rows, cols = np.nonzero(alpha)
        top, left = position.value.split("_")
        assert (rows.max() < 180) == (top == "top") and (cols.max() < 320) == (left == "left")
        assert 20 < rows.max() - rows.min() < 60  # small but legible at 360 lines
    assert not frame.any()  # the engine's frame is not drawn on in place
