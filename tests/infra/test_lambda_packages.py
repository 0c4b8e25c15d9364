"""Every synthesized Lambda starts the way the Lambda runtime starts it: a fresh interpreter without site-packages
(`python -I -S`) whose path holds only the function's staged asset, its layers (`/opt/python`) and boto3 (what the
python3.11 runtime provides), with the function's environment from the template. AWS calls at import fail: the
endpoint is a closed loopback port, so a handler that fetches a secret (or anything) while loading fails here."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.packaging import REPO, pip_target
from tests.infra.assembly import Assembly

LAMBDA_LIMIT_BYTES = 250 * 1024**2  # unzipped function + layers
RUNTIME = REPO / "build" / "lambda-runtime"
ACCOUNT = "123456789012"
IMPORT = """
import sys
sys.path[:0] = sys.argv[1:]
import handler
assert callable(handler.handler)
leaked = sorted(m for m in ("numpy", "cv2", "assemblyai", "faster_whisper") if m in sys.modules)
assert not leaked, f"heavy or optional SDKs imported at start: {leaked}"
"""


def _stand_in(name: str, value: Any) -> str:
    """A CloudFormation value (Ref, GetAtt, Join) as a plausible literal: the import must not call AWS with it."""
    if isinstance(value, str):
        return value
    if name.endswith("_ARN"):
        return f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name.lower()}-AbCdEf"
    if name.endswith("_URL") or name.endswith("_PREFIX"):
        return f"https://{name.lower().replace('_', '-')}.example.invalid/"
    return f"{name.lower().replace('_', '-')}.example.invalid"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _size(*folders: Path) -> int:
    return sum(f.stat().st_size for folder in folders for f in folder.rglob("*") if f.is_file())


def _functions(assembly: Assembly) -> dict[str, dict[str, Any]]:
    """Our functions: Python code from an asset (CDK's own inline helpers are not ours to package)."""
    return {
        name: resource["Properties"]
        for name, resource in assembly.template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"]["Runtime"].startswith("python")
        and "S3Key" in resource["Properties"]["Code"]
    }


@pytest.fixture(scope="module")
def runtime_boto3() -> Path:
    """boto3 as the Lambda runtime provides it, for the Lambda platform (cached under build/)."""
    pip_target(["boto3"], RUNTIME)
    return RUNTIME / "python"


def test_every_function_imports_with_only_its_asset_and_layers(
    assembly: Assembly, runtime_boto3: Path
) -> None:
    template = assembly.template
    layers = {
        name: assembly.asset_dir(r["Properties"]["Content"])
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::LayerVersion"
    }
    functions = _functions(assembly)
    assert len(functions) == 9, sorted(functions)  # dev: no transcribe Lambda (the workers transcribe)
    closed = f"http://127.0.0.1:{_closed_port()}"
    sizes: dict[str, float] = {}
    for name, props in functions.items():
        code = assembly.asset_dir(props["Code"])
        layer_dirs = [layers[layer["Ref"]] / "python" for layer in props.get("Layers", [])]
        assert props["Handler"] == "handler.handler"
        variables = props.get("Environment", {}).get("Variables", {})
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LAMBDA_TASK_ROOT": str(code),
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": closed,
            "AWS_MAX_ATTEMPTS": "1",
            **{key: _stand_in(key, value) for key, value in variables.items()},
        }
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-c", IMPORT, str(code), *map(str, layer_dirs), str(runtime_boto3)],
            cwd=code,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (name, result.stderr[-3000:])
        size = _size(code, *layer_dirs)
        sizes[name] = size / 1024**2
        assert size < LAMBDA_LIMIT_BYTES, (name, size)
    print("unzipped function + layers (MB):", {k: round(v, 1) for k, v in sorted(sizes.items())})


def test_layer_comes_from_the_lambda_extra(assembly: Assembly) -> None:
    """The layer holds the `lambda` extra's distributions and not the worker's model stack."""
    layer = next(
        assembly.asset_dir(r["Properties"]["Content"]) / "python"
        for r in assembly.template["Resources"].values()
        if r["Type"] == "AWS::Lambda::LayerVersion"
    )
    installed = {p.name.split("-")[0].lower() for p in layer.glob("*.dist-info")}
    assert {"fastapi", "mangum", "aws_lambda_powertools", "av", "redis", "assemblyai"} <= installed
    assert not installed & {"numpy", "opencv_python_headless", "faster_whisper", "ctranslate2"}


def test_function_code_leaves_out_the_worker(assembly: Assembly) -> None:
    for props in _functions(assembly).values():
        package = assembly.asset_dir(props["Code"]) / "framelane"
        assert (package / "services").is_dir()
        assert not (package / "engines").exists() and not (package / "local").exists()
