"""Facts about a task's engine and source for its manifest: the model and the pinned sha256 of its weights."""

from __future__ import annotations

from framelane.engines.base import FrameEngine
from framelane.provenance.manifest import EngineFacts
from framelane.weights import FACE_MESH, SELFIE_SEGMENTATION, SPAN, ModelSpec

# Built-in engines and the weights they load (the hashes pinned in weights.py, verified by `models fetch`).
_MODELS: dict[str, ModelSpec] = {
    "framelane.engines.background.BackgroundRemover": SELFIE_SEGMENTATION,
    "framelane.engines.gaze.GazeRedirector": FACE_MESH,
    "framelane.engines.super_resolution.LearnedUpscaler": SPAN,
}


def engine_facts(engine: FrameEngine) -> EngineFacts:
    """Name, model and weight hashes of the engine that made the pixels (a label wrapper is looked through)."""
    inner = getattr(engine, "inner", engine)
    name = f"{type(inner).__module__}.{type(inner).__qualname__}"
    spec = _MODELS.get(name)
    if spec is None:
        return EngineFacts(name)
    files = spec.files
    if spec is SPAN:  # only the ×2 or the ×4 network runs
        prefix = f"spanx{getattr(inner, 'model_scale', 2)}_"
        files = tuple(f for f in files if f.name.startswith(prefix))
    return EngineFacts(name, spec.name, {f.name: f.sha256 for f in files})
