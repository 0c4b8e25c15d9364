"""Lambda code without Docker: each function's handler.py plus the `framelane` package, copied into a folder;
third-party dependencies in one layer folder that pip builds for the Lambda platform from the `lambda` extra of
pyproject.toml (the one list: nothing here names a package).

`python -m infra.packaging` (what `make lambda-deps` runs) builds the layer; a stamp keyed by the requirement list
and the platform makes a rebuild with an unchanged pyproject a no-op.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build" / "lambda"
DEPENDENCIES = REPO / "build" / "lambda-deps"
LAMBDA_EXTRA = "lambda"
# The Lambda python3.11 x86_64 runtime (Amazon Linux 2023, glibc 2.34): manylinux2014 wheels load there.
PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11")
# Lambdas need neither the local stack nor the worker's frame loop (numpy, OpenCV): leave them out. Paths under
# framelane/, not bare names, so only these go (`media/transcode.py`, never a `transcode.py` elsewhere).
_LEFT_OUT = frozenset(
    {
        "local",
        "engines",
        "worker/runtime.py",
        "worker/sagemaker.py",
        "media/transcode.py",
        "media/samples.py",
        "services/render.py",
    }
)
SOURCE = REPO / "shared" / "framelane"


def _ignore(directory: str, names: list[str]) -> set[str]:
    here = Path(directory).relative_to(SOURCE)
    return {
        name
        for name in names
        if name == "__pycache__" or name.endswith(".pyc") or (here / name).as_posix() in _LEFT_OUT
    }


_SELF = re.compile(r"^framelane\[(?P<extras>[^\]]+)\]$")


def function_code(name: str) -> Path:
    """`build/lambda/{name}`: handler.py + framelane/ (without the local stack, worker and engines)."""
    target = BUILD / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy(REPO / "functions" / name / "handler.py", target / "handler.py")
    shutil.copytree(SOURCE, target / "framelane", ignore=_ignore)
    return target


def requirements(extra: str = LAMBDA_EXTRA, pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """The project's dependencies plus `extra`, with `framelane[...]` self-references expanded."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    found: list[str] = list(project["dependencies"])
    pending, seen = [extra], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for requirement in extras[name]:
            match = _SELF.match(requirement)
            if match:
                pending.extend(part.strip() for part in match["extras"].split(","))
            elif requirement not in found:
                found.append(requirement)
    return found


def pip_target(packages: list[str], target: Path) -> bool:
    """`pip install --target` for the Lambda platform, skipped when `target` holds the same build; True if built."""
    key = hashlib.sha256("\n".join([*PLATFORM, *packages]).encode()).hexdigest()[:16]
    stamp = target / f".built-{key}"
    if stamp.exists():
        return False
    if target.exists():
        shutil.rmtree(target)
    python = target / "python"
    python.mkdir(parents=True)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--target", str(python), *PLATFORM, "--only-binary=:all:", *packages], check=True)
    stamp.touch()
    return True


def build_dependencies() -> Path:
    pip_target(requirements(), DEPENDENCIES)
    return DEPENDENCIES


def dependencies_layer() -> tuple[Path, bool]:
    """The layer folder and whether it was built; an unbuilt one is an empty placeholder (synth still works)."""
    python = DEPENDENCIES / "python"
    built = python.exists() and any(python.iterdir())
    python.mkdir(parents=True, exist_ok=True)
    return DEPENDENCIES, built


if __name__ == "__main__":
    # `python infra/packaging.py requirements EXTRA`: the extra's requirement lines (the worker image's pip
    # install reads them, so dependencies install before the source is copied); no argument: build the layer.
    if sys.argv[1:2] == ["requirements"]:
        print("\n".join(requirements(sys.argv[2], Path("pyproject.toml"))))
    else:
        print(build_dependencies())
