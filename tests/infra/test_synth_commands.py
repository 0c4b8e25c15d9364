"""Both documented ways to synthesize work offline: `python -m infra.app` and the pinned CDK CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CDK_CLI = REPO / "node_modules" / ".bin" / "cdk"  # pinned in package.json, installed by scripts/setup.sh


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


@pytest.mark.skipif(not CDK_CLI.exists(), reason="the CDK CLI is not installed (scripts/setup.sh needs npm)")
def test_cdk_cli_synth(tmp_path: Path) -> None:
    """The CLI set-up installed (the version package.json pins), offline: no notices fetched, no telemetry sent."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]["aws-cdk"]
    version = subprocess.run(
        [str(CDK_CLI), "--version"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.split()[0] == pinned
    result = subprocess.run(
        [
            str(CDK_CLI),
            "synth",
            "--quiet",
            "--no-notices",
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
