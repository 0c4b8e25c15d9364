"""scripts/sagemaker_smoke.py through the SageMaker Python SDK, its session pointed at moto over HTTP: the SDK
uploads the drain body to the input path, invokes the endpoint asynchronously and waits for the answer object.
moto's SageMaker runtime does not run a container: it is told the answer (its moto-api), so this checks the SDK
wiring (upload, invoke, wait, decode, failure), not the endpoint; tests/integration/test_sagemaker_drain.py checks
what the container does with the body. Needs the `ops` extra (the SDK is not in the dev environment)."""

from __future__ import annotations

import json

import boto3
import httpx
import pytest

from tests.unit.test_sagemaker_smoke import load_script

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


def test_smoke_invokes_through_the_sdk_and_reads_the_drain_answer(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    smoke = load_script()
    _answer(stack, json.dumps({"rendered": 0}))
    status = smoke.main(["--stage", "smoke", "--bucket", stack.settings.bucket, "--region", "us-east-1"])
    line = json.loads(capsys.readouterr().out)
    assert status == 0, line
    assert line == {"endpoint": "framelane-smoke-renderer", "answer": {"rendered": 0}, "ok": True}
    s3 = boto3.client("s3", endpoint_url=stack.moto.url, region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=stack.settings.bucket, Prefix="sagemaker/inputs/smoke-")
    (uploaded,) = [o["Key"] for o in listed.get("Contents", [])]  # what the SDK uploaded before invoking
    assert json.loads(stack.ctx.blobs.get_bytes(uploaded)) == {"drain": {"max_entries": 1, "seconds": 60}}


def test_smoke_fails_on_an_answer_that_is_not_a_drain(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    smoke = load_script()
    _answer(stack, json.dumps({"task_id": "task_x", "status": "completed"}))
    status = smoke.main(["--stage", "smoke2", "--bucket", stack.settings.bucket, "--region", "us-east-1"])
    assert status == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
