"""What a Framelane output's manifest says: the source as parent ingredient, the actions with their IPTC digital
source types, the software agent, the engine, model and weights, the task options and the task id.

Plain data (the SDK's manifest definition JSON), so the wording is testable without signing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from framelane import __version__
from framelane.models import LabelPosition, TaskType

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# Source pixels kept, some replaced or moved by what a trained model decided.
COMPOSITE_WITH_TRAINED = IPTC + "compositeWithTrainedAlgorithmicMedia"
# Minor enhancement by a classical algorithm (no trained model).
ALGORITHMICALLY_ENHANCED = IPTC + "algorithmicallyEnhanced"

SOURCE_LABEL = "source"  # the parent ingredient's id in the actions
SHA256_KEY = "com.framelane.sha256"  # the ingredient's metadata field carrying the source bytes' sha256
TASK_ASSERTION = "com.framelane.task"
SOFTWARE_AGENT = {"name": "Framelane", "version": __version__}


@dataclass(frozen=True)
class EngineFacts:
    """The engine that made the pixels: its name, its model and the sha256 of each weight file."""

    name: str
    model: str | None = None
    weights: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskFacts:
    task_id: str
    task_type: TaskType
    options: dict[str, Any]
    engine: EngineFacts
    source_sha256: str


def manifest_definition(facts: TaskFacts, title: str, mime: str, frame: int | None = None) -> dict[str, Any]:
    """The manifest definition for one output file (`frame`: its index among a zip's PNG frames)."""
    task: dict[str, Any] = {
        "task_id": facts.task_id,
        "task_type": facts.task_type.value,
        "options": facts.options,
        "engine": facts.engine.name,
        "model": facts.engine.model,
        "weights_sha256": facts.engine.weights,
        "source_sha256": facts.source_sha256,
    }
    if frame is not None:
        task["frame"] = frame
    return {
        "claim_generator_info": [SOFTWARE_AGENT],
        "title": title,
        "format": mime,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions(facts)}},
            {"label": TASK_ASSERTION, "data": task},
        ],
    }


def source_ingredient(title: str, sha256: str) -> dict[str, Any]:
    """The parent ingredient. The SDK keeps the source's own manifest (if any) as the ingredient's."""
    return {
        "title": title,
        "relationship": "parentOf",
        "label": SOURCE_LABEL,
        "metadata": {SHA256_KEY: sha256},
    }


def actions(facts: TaskFacts) -> list[dict[str, Any]]:
    """`c2pa.opened` (the source) first, then what the task did to it."""
    parameters: dict[str, Any] = {"task_id": facts.task_id, "engine": facts.engine.name}
    if facts.engine.model:
        parameters["model"] = facts.engine.model
    edits: list[dict[str, Any]] = []
    if facts.task_type is TaskType.remove_background:
        edits.append(
            _edit(
                "c2pa.edited",
                COMPOSITE_WITH_TRAINED,
                "Background removed: a trained segmentation model made the alpha matte "
                f"({facts.options.get('output_format', 'webm')} with alpha).",
                parameters,
            )
        )
    elif facts.task_type is TaskType.gaze_redirect:
        edits.append(
            _edit(
                "c2pa.edited",
                COMPOSITE_WITH_TRAINED,
                "Eye gaze redirected toward the camera: face and iris landmark models steer a warp of the "
                f"eye regions (intensity {facts.options.get('intensity')}).",
                parameters,
            )
        )
    elif facts.task_type is TaskType.super_resolution:
        learned = facts.engine.model is not None
        scale = facts.options.get("scale")
        edits.append(_edit("c2pa.resized", None, f"Upscaled ×{scale}.", parameters))
        edits.append(
            _edit(
                "c2pa.edited",
                COMPOSITE_WITH_TRAINED if learned else ALGORITHMICALLY_ENHANCED,
                "Super resolution: detail restored by a trained model."
                if learned
                else "Super resolution: Lanczos resampling and sharpening (no trained model).",
                parameters,
            )
        )
    label = facts.options.get("label")
    if label:
        edits.append(  # not c2pa.watermarked: C2PA reserves that for soft-binding (invisible) watermarks
            _edit(
                "c2pa.edited",
                None,
                f'Visible "AI-edited" label burned into every frame ({LabelPosition(label).value}).',
                parameters,
            )
        )
    opened = {
        "action": "c2pa.opened",
        "softwareAgent": SOFTWARE_AGENT,
        "parameters": {"ingredientIds": [SOURCE_LABEL]},
    }
    return [opened, *edits]


def _edit(
    action: str, source_type: str | None, description: str, parameters: dict[str, Any]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "action": action,
        "softwareAgent": SOFTWARE_AGENT,
        "description": description,
        "parameters": parameters,
    }
    if source_type:
        entry["digitalSourceType"] = source_type
    return entry
