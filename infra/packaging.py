"""Lambda code without Docker: each function's handler.py plus the `framelane` package, copied into a folder;
third-party dependencies in one layer folder built by `make lambda-deps` (pip for the Lambda platform)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build" / "lambda"
DEPENDENCIES = REPO / "build" / "lambda-deps"
# Lambdas need neither the local stack nor the worker's frame pipeline (numpy, OpenCV): leave them out.
_IGNORE = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "local", "runtime.py", "sagemaker.py", "engines", "pipeline.py", "samples.py"
)


def function_code(name: str) -> Path:
    """`build/lambda/{name}`: handler.py + framelane/ (without the local stack, worker and engines)."""
    target = BUILD / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy(REPO / "functions" / name / "handler.py", target / "handler.py")
    shutil.copytree(REPO / "shared" / "framelane", target / "framelane", ignore=_IGNORE)
    return target


def dependencies_layer() -> tuple[Path, bool]:
    """The layer folder and whether it was built; an unbuilt one is an empty placeholder (synth still works)."""
    python = DEPENDENCIES / "python"
    built = python.exists() and any(python.iterdir())
    python.mkdir(parents=True, exist_ok=True)
    return DEPENDENCIES, built
