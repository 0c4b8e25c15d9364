"""scripts/sagemaker_smoke.py through the SageMaker Python SDK, its session pointed at moto over HTTP: the SDK
uploads the drain body to the input path, invokes the endpoint asynchronously and waits for the answer object.
moto's SageMaker runtime does not run a container: it is told the answer (its moto-api), so this checks the SDK
wiring (upload, invoke, wait, decode, failure), not the endpoint; tests/integration/test_sagemaker_drain.py checks
what the container does with the body. Needs the `ops` extra (the SDK is not in the dev environment)."""

from __future__ import annotations

import json
import subprocess
import sys

import boto3
import httpx
import pytest

from tests.unit.test_sagemaker_smoke import SCRIPT, load_script

from .conftest import Stack

pytest.importorskip("sagemaker.predictor_async", reason="the `ops` extra (SageMaker SDK) is not installed")
pytestmark = pytest.mark.integration


def _answer(stack: Stack, data: str, *, failure: bool = False) -> None:
    response = httpx.post(
        f"{stack.moto.url}/moto-api/static/sagemaker/async-endpoint-results",
        json={"results": [{"data": data, "is_failure": failure}], "region": "us-east-1"},
        timeout=10,
    )
    assert response.status_code == 201


@pytest.fixture(autouse=True)
def sdk_on_moto(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's boto3 session reaches every service through moto_server (botocore's AWS_ENDPOINT_URL)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.moto.url)


def test_smoke_invokes_through_the_sdk_and_reads_the_drain_answer(stack: Stack) -> None:
    """Run as ops run it: the process prints the answer and exits at once, although the SDK still waits on the
    failure object in a thread (the default --timeout is 20 min)."""
    _answer(stack, json.dumps({"rendered": 0}))
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--stage",
            "smoke",
            "--bucket",
            stack.settings.bucket,
            "--region",
            "us-east-1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    line = json.loads(result.stdout.splitlines()[-1])  # the SDK logs its config lookups to stdout first
    assert line == {"endpoint": "framelane-smoke-renderer", "answer": {"rendered": 0}, "ok": True}
    s3 = boto3.client("s3", endpoint_url=stack.moto.url, region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=stack.settings.bucket, Prefix="sagemaker/inputs/smoke-")
    (uploaded,) = [o["Key"] for o in listed.get("Contents", [])]  # what the SDK uploaded before invoking
    assert json.loads(stack.ctx.blobs.get_bytes(uploaded)) == {"drain": {"max_entries": 1, "seconds": 60}}


@pytest.mark.parametrize(
    ("data", "failure", "reported"),
    [
        (json.dumps({"task_id": "task_x", "status": "completed"}), False, "answer"),  # not a drain's answer
        ("the container failed", True, "error"),  # SageMaker wrote the failure object
    ],
)
def test_smoke_fails_on_a_failure_or_an_answer_that_is_not_a_drain(
    stack: Stack, capsys: pytest.CaptureFixture[str], data: str, failure: bool, reported: str
) -> None:
    smoke = load_script()
    _answer(stack, data, failure=failure)
    status = smoke.main(["--stage", "smoke2", "--bucket", stack.settings.bucket, "--region", "us-east-1"])
    line = json.loads(capsys.readouterr().out)
    assert status == 1 and reported in line and line.get("ok") is not True, line
