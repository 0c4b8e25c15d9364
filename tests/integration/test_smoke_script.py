"""scripts/smoke_test.py (the post-deployment check in docs/OPERATIONS.md) against the local stack's API URL:
real uvicorn API, moto over HTTP, redis-server, the SQS pollers and a renderer worker thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from framelane.services.context import ServiceContext

from .conftest import ADMIN_TOKEN
from .pipeline_helpers import thread_worker

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "smoke_test.py"


def run_smoke(url: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FRAMELANE_ADMIN_TOKEN": token}
    command = [sys.executable, str(SCRIPT), "--api-url", url, "--timeout", "90"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)


def test_smoke_script_runs_one_task_to_completion(
    pipeline_api_url: str, pipeline_ctx: ServiceContext
) -> None:
    with thread_worker(pipeline_ctx, "smoke-worker"):
        result = run_smoke(pipeline_api_url, ADMIN_TOKEN)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    steps = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["step"] for s in steps] == ["health", "workspace", "upload", "task", "result"]
    assert steps[-1]["status"] == "completed" and steps[-1]["output"]["url"]


def test_smoke_script_fails_without_the_operator_token(pipeline_api_url: str) -> None:
    result = run_smoke(pipeline_api_url, "wrong-token")
    assert result.returncode != 0
