"""One synth of the dev stack per test session, into a temporary cloud assembly (with its staged assets), after
the Lambda layer is built from pyproject's `lambda` extra (cached under build/: a no-op when up to date)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.packaging import build_dependencies
from tests.infra.assembly import Assembly, synth


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assembly]:
    build_dependencies()
    yield synth(tmp_path_factory.mktemp("cdk.out"))


PROD_CONTEXT = {
    "stage": "prod",
    "sagemaker_endpoint": True,
    "assemblyai_secret_name": "framelane/assemblyai",
    "alarm_email": "ops@example.com",
    "cors_allowed_origins": ["https://app.example.com"],
    "workspace_concurrency": 3,
    "rate_limit_create_per_minute": 120,
    "c2pa_signing_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:framelane/c2pa-AbCdEf",
    "c2pa_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}


@pytest.fixture(scope="session")
def prod_assembly(assembly: Assembly, tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    """The production stage with every option on (SageMaker endpoint, AssemblyAI key, C2PA signing secret and key)."""
    return synth(tmp_path_factory.mktemp("cdk.out.prod"), **PROD_CONTEXT)
