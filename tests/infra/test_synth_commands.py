"""Both documented ways to synthesize work offline: `python -m infra.app` and the pinned CDK CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CDK_CLI = "aws-cdk@2.1148.1"  # the npm `latest` (3.x) rejects the current assembly schema


def _template(outdir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((outdir / "Framelane-dev.template.json").read_text())
    return data


def test_python_module_synth(tmp_path: Path) -> None:
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "infra.app"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "AWS::StepFunctions::StateMachine" in json.dumps(_template(tmp_path))


@pytest.mark.skipif(shutil.which("npx") is None, reason="Node.js/npx is not installed")
def test_cdk_cli_synth(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [
            "npx",
            "--yes",
            CDK_CLI,
            "synth",
            "--quiet",
            "--app",
            f"{sys.executable} -m infra.app",
            "-o",
            str(tmp_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(json.dumps(_template(tmp_path))) > 10_000
