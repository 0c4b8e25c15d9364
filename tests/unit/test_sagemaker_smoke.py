"""scripts/sagemaker_smoke.py's plan: the endpoint the CDK names, an input the endpoint's role may read, and a body
the serving container accepts as a drain (tests/integration/test_sagemaker_smoke.py runs the SDK against moto)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from framelane.worker.sagemaker import DrainRequest
from infra.config import StageConfig

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sagemaker_smoke.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sagemaker_smoke", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through the module
    spec.loader.exec_module(module)
    return module


smoke = load_script()


def test_plan_targets_the_endpoint_the_cdk_deploys_with_a_drain_the_container_accepts() -> None:
    plan = smoke.plan("prod", "framelane-media-123", timeout=600)
    assert plan.endpoint_name == StageConfig(stage="prod").sagemaker_endpoint_name
    assert re.fullmatch(r"s3://framelane-media-123/sagemaker/inputs/smoke-\d+\.json", plan.input_path)
    drain = DrainRequest.model_validate(plan.body).drain
    assert drain.max_entries == 1 and drain.seconds < plan.invocation_timeout_seconds
    assert plan.waiter_attempts * plan.waiter_delay_seconds == 600


@pytest.mark.parametrize("bucket", ["", "s3://bucket", "bucket/key"])
def test_plan_refuses_what_is_not_a_bucket_name(bucket: str) -> None:
    with pytest.raises(ValueError, match="not a bucket name"):
        smoke.plan("prod", bucket, timeout=600)


def test_the_sdk_is_imported_only_when_the_command_runs() -> None:
    """Loading the script (above) needs no SDK: only `run` imports it."""
    head = SCRIPT.read_text().split("def run(")[0]
    assert not re.search(r"^\s*(import|from) sagemaker", head, re.MULTILINE)
