"""Secrets and resources by need: for every function, the worker task and the SageMaker model, everything its
environment names is granted to its role, nothing is granted that its environment does not name, and each names
only the secrets its code reads (the API: cursor, admin, Redis, AssemblyAI; broker clients: Redis; transcribe:
AssemblyAI; both worker kinds: the C2PA signing secret and KMS key where configured; the rest none)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.infra.assembly import Assembly

REDIS = "FRAMELANE_REDIS_AUTH_SECRET_ARN"
CURSOR = "FRAMELANE_CURSOR_SECRET_ARN"
ADMIN = "FRAMELANE_ADMIN_TOKEN_SECRET_ARN"
ASSEMBLYAI = "FRAMELANE_ASSEMBLYAI_SECRET_ARN"
C2PA = "FRAMELANE_C2PA_SIGNING_SECRET_ARN"
C2PA_KEY = "FRAMELANE_C2PA_KMS_KEY_ID"
# logical-id prefix → the secrets its code reads (AssemblyAI and C2PA only where the stage configures them)
SECRETS_BY_NEED = {
    "ApiFunction": {CURSOR, ADMIN, REDIS, ASSEMBLYAI},
    "DispatchStep": {REDIS},
    "BacklogMetric": {REDIS},
    "WorkersRendererTask": {REDIS, C2PA},
    "WorkersRendererModel": {REDIS, C2PA},
    "TranscribeStep": {ASSEMBLYAI},
    "IngestStep": set(),
    "FinalizeStep": set(),
    "WebhookStep": set(),
    "NotifyStep": set(),
    "S3Trigger": set(),
    "DeadLetterStep": set(),
}
# environment variable → the IAM action prefix that must be granted on the resource it names
KINDS = {
    "FRAMELANE_TABLE_NAME": "dynamodb:",
    "FRAMELANE_BUCKET": "s3:",
    "FRAMELANE_TASK_STATE_MACHINE_ARN": "states:StartExecution",
    "FRAMELANE_WEBHOOK_STATE_MACHINE_ARN": "states:StartExecution",
    "FRAMELANE_SAGEMAKER_ENDPOINT": "sagemaker:InvokeEndpointAsync",
    REDIS: "secretsmanager:GetSecretValue",
    CURSOR: "secretsmanager:GetSecretValue",
    ADMIN: "secretsmanager:GetSecretValue",
    ASSEMBLYAI: "secretsmanager:GetSecretValue",
    C2PA: "secretsmanager:GetSecretValue",
    C2PA_KEY: "kms:Sign",
}
RESOURCE_TYPES = {
    "dynamodb:": "AWS::DynamoDB::Table",
    "s3:": "AWS::S3::Bucket",
    "states:StartExecution": "AWS::StepFunctions::StateMachine",
    "secretsmanager:GetSecretValue": "AWS::SecretsManager::Secret",
}


def _principals(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(logical id, environment, role logical id) of every function, task and model running our code."""
    for name, resource in template["Resources"].items():
        props = resource["Properties"]
        if resource["Type"] == "AWS::Lambda::Function" and "S3Key" in props["Code"]:
            if props["Runtime"].startswith("python"):
                yield name, props["Environment"]["Variables"], props["Role"]["Fn::GetAtt"][0]
        elif resource["Type"] == "AWS::ECS::TaskDefinition":
            container = props["ContainerDefinitions"][0]
            env = {e["Name"]: e["Value"] for e in container["Environment"]}
            yield name, env, props["TaskRoleArn"]["Fn::GetAtt"][0]
        elif resource["Type"] == "AWS::SageMaker::Model":
            yield name, props["PrimaryContainer"]["Environment"], props["ExecutionRoleArn"]["Fn::GetAtt"][0]


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template["Resources"].values()
        if policy["Type"] == "AWS::IAM::Policy" and {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


def _mark(value: Any) -> str:
    """What a policy resource mentions for the resource this value names: a logical id, or an imported name."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    parts = value["Fn::Join"][1] if isinstance(value, dict) else [value]
    return next(p for p in reversed(parts) if isinstance(p, str)).rsplit(":", 1)[-1]


@pytest.fixture(params=["dev", "prod"])
def stage(request: pytest.FixtureRequest) -> Assembly:
    fixture: Assembly = request.getfixturevalue("assembly" if request.param == "dev" else "prod_assembly")
    return fixture


def test_every_named_resource_is_granted_and_nothing_else(stage: Assembly) -> None:
    template = stage.template
    principals = list(_principals(template))
    assert len(principals) >= 10
    for name, env, role in principals:
        statements = _statements(template, role)
        for variable, prefix in KINDS.items():
            if variable not in env:
                continue
            mark = _mark(env[variable])
            granted = [
                s
                for s in statements
                if any(a.startswith(prefix) for a in _actions(s)) and mark in json.dumps(s["Resource"])
            ]
            assert granted, (name, variable, "named but not granted")
        named = {_mark(env[v]) for v in KINDS if v in env}
        for statement in statements:
            for prefix, resource_type in RESOURCE_TYPES.items():
                if not any(a.startswith(prefix) for a in _actions(statement)):
                    continue
                text = json.dumps(statement["Resource"])
                ours = [
                    logical
                    for logical, r in template["Resources"].items()
                    if r["Type"] == resource_type and f'"{logical}"' in text
                ]
                assert set(ours) <= named, (name, prefix, "granted but not named", set(ours) - named)
        if "FRAMELANE_REDIS_HOST" in env:
            assert REDIS in env, name


def test_each_names_only_the_secrets_its_code_reads(stage: Assembly) -> None:
    configured = {
        ASSEMBLYAI: stage.stack.transcription.assemblyai_key is not None,
        C2PA: stage.stack.workers.signing_secret is not None,
    }
    seen = set()
    for name, env, _ in _principals(stage.template):
        prefix = next(p for p in SECRETS_BY_NEED if name.startswith(p))
        seen.add(prefix)
        expected = {s for s in SECRETS_BY_NEED[prefix] if configured.get(s, True)}
        assert {v for v in env if v.endswith("_SECRET_ARN")} == expected, name
    # no SageMaker endpoint: no model; no AssemblyAI key: no transcribe Lambda (the GPU workers transcribe)
    absent = {
        "WorkersRendererModel": getattr(stage.stack.workers, "sagemaker_role", None) is None,
        "TranscribeStep": not configured[ASSEMBLYAI],
    }
    optional = {prefix for prefix, missing in absent.items() if missing}
    assert seen >= set(SECRETS_BY_NEED) - optional


def test_both_worker_kinds_may_sign_with_the_operators_credentials(prod_assembly: Assembly) -> None:
    """The ECS task and the SageMaker model both render, so both sign: each names the C2PA signing secret and
    KMS key and may read / sign with exactly those (the general check above proves named ⇒ granted)."""
    principals = {name: env for name, env, _ in _principals(prod_assembly.template)}
    kinds = [name for name in principals if name.startswith(("WorkersRendererTask", "WorkersRendererModel"))]
    assert len(kinds) == 2
    for name in kinds:
        assert {C2PA, C2PA_KEY} <= set(principals[name]), name


def test_unset_assemblyai_key_means_no_secret_at_all(assembly: Assembly, prod_assembly: Assembly) -> None:
    """Without `assemblyai_secret_name` no secret is created (CloudFormation would generate a random string
    for an empty one, which the code would send to AssemblyAI as a key)."""
    for stage in (assembly, prod_assembly):
        for secret in stage.template["Resources"].values():
            if secret["Type"] == "AWS::SecretsManager::Secret":
                assert "AssemblyAI" not in secret["Properties"].get("Description", "")
    assert assembly.stack.transcription.assemblyai_key is None
    assert prod_assembly.stack.transcription.assemblyai_key is not None
