"""Reliability and production settings, each read from the synthesized template (dev and prod stages)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.packaging import REPO
from tests.infra.assembly import Assembly


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _ours(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: v["Properties"]
        for k, v in _resources(template, "AWS::Lambda::Function").items()
        if "S3Key" in v["Properties"]["Code"] and v["Properties"]["Runtime"].startswith("python")
    }


def test_service_waits_for_the_capacity_provider_association(assembly: Assembly) -> None:
    template = assembly.template
    (association,) = _resources(template, "AWS::ECS::ClusterCapacityProviderAssociations")
    (service,) = _resources(template, "AWS::ECS::Service").values()
    assert association in service["DependsOn"]


@pytest.fixture(params=["dev", "prod"])
def stage(request: pytest.FixtureRequest) -> Assembly:
    """dev: no AssemblyAI key (no transcribe Lambda: the GPU workers transcribe); prod: the key, the Lambda."""
    fixture: Assembly = request.getfixturevalue("assembly" if request.param == "dev" else "prod_assembly")
    return fixture


def test_functions_holding_a_source_have_tmp_for_the_largest(stage: Assembly) -> None:
    holding = 0
    for name, props in _ours(stage.template).items():
        variables = props["Environment"]["Variables"]
        if variables.get("FRAMELANE_STEP") in {"ingest", "transcribe"}:
            holding += 1
            limit = int(variables["FRAMELANE_MAX_SOURCE_BYTES"])
            assert props["EphemeralStorage"]["Size"] * 1024**2 > limit, name
    assert holding == (1 if stage.stack.config.transcribe_on_workers else 2)  # ingest (and transcribe)


def _waiting_states(template: dict[str, Any]) -> dict[str, list[int]]:
    """queue logical id → the timeouts (heartbeat when set) of every state that waits on a message sent to it."""
    waits: dict[str, list[int]] = {}
    for machine in _resources(template, "AWS::StepFunctions::StateMachine").values():
        body = machine["Properties"]["DefinitionString"]
        parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
        text = "".join(p if isinstance(p, str) else f"<{p['Ref']}>" for p in parts)
        for state in json.loads(text)["States"].values():
            if state.get("Resource", "").endswith(".waitForTaskToken"):
                queue = re.fullmatch(r"<(.+)>", state["Parameters"]["QueueUrl"])
                assert queue, state
                limit = state.get("HeartbeatSeconds") or state["TimeoutSeconds"]
                waits.setdefault(queue[1], []).append(limit)
    return waits


def test_visibility_timeouts_fit_consumers_and_waiting_states(stage: Assembly) -> None:
    template = stage.template
    functions = _ours(template)
    waits = _waiting_states(template)
    # ingest, dispatch (Render, and Transcribe without an AssemblyAI key), finalize, webhook (, transcribe)
    assert len(waits) == (4 if stage.stack.config.transcribe_on_workers else 5)
    for mapping in _resources(template, "AWS::Lambda::EventSourceMapping").values():
        queue_id = mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        queue = template["Resources"][queue_id]["Properties"]
        visibility = queue.get("VisibilityTimeout", 30)  # SQS default
        consumer = functions[mapping["Properties"]["FunctionName"]["Ref"]]
        assert consumer["Timeout"] <= visibility, queue_id
        if queue_id in waits:
            receives = queue["RedrivePolicy"]["maxReceiveCount"]
            assert all(visibility < limit for limit in waits[queue_id]), (
                queue_id,
                visibility,
                waits[queue_id],
            )
            assert receives * visibility <= max(waits[queue_id]), (queue_id, visibility, waits[queue_id])


def test_prod_has_a_nat_per_az_endpoints_and_protected_data(
    assembly: Assembly, prod_assembly: Assembly
) -> None:
    dev, prod = assembly.template, prod_assembly.template
    assert len(_resources(dev, "AWS::EC2::NatGateway")) == 1
    assert len(_resources(prod, "AWS::EC2::NatGateway")) == 2
    assert not [
        e for e in _resources(dev, "AWS::EC2::VPCEndpoint").values() if "PrivateDnsEnabled" in e["Properties"]
    ]
    services = json.dumps(
        [e["Properties"]["ServiceName"] for e in _resources(prod, "AWS::EC2::VPCEndpoint").values()]
    )
    for service in (
        "secretsmanager",
        "states",
        "logs",
        "ecr.api",
        "ecr.dkr",
        "ecs-agent",
        "sagemaker.runtime",
    ):
        assert f".{service}" in services, service
    (table,) = _resources(prod, "AWS::DynamoDB::Table").values()
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    for bucket in _resources(prod, "AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"
    (dev_table,) = _resources(dev, "AWS::DynamoDB::Table").values()
    assert dev_table["Properties"].get("DeletionProtectionEnabled") is False


def test_gpu_instances_run_amazon_linux_2023(assembly: Assembly) -> None:
    parameters = assembly.template["Parameters"]
    image = next(p for k, p in parameters.items() if "gpurecommendedimageid" in k.lower())
    assert "/amazon-linux-2023/gpu/" in image["Default"]


def test_functions_that_fetch_user_urls_cannot_reach_redis(assembly: Assembly) -> None:
    template = assembly.template
    ingress = _resources(template, "AWS::EC2::SecurityGroupIngress")
    redis_clients = {
        r["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0]
        for r in ingress.values()
        if r["Properties"].get("FromPort") == 6380
    }
    assert redis_clients
    checked = 0
    for name, props in _ours(template).items():
        groups = {g["Fn::GetAtt"][0] for g in props["VpcConfig"]["SecurityGroupIds"]}
        if props["Environment"]["Variables"].get("FRAMELANE_STEP") in {"ingest", "webhook"}:
            checked += 1
            assert not groups & redis_clients, name
        if "FRAMELANE_REDIS_HOST" in props["Environment"]["Variables"]:
            assert groups & redis_clients, name
    assert checked == 2


def test_cors_comes_from_configuration(assembly: Assembly, prod_assembly: Assembly) -> None:
    for bucket in _resources(assembly.template, "AWS::S3::Bucket").values():
        assert "CorsConfiguration" not in bucket["Properties"]
    cors = [
        b["Properties"]["CorsConfiguration"]
        for b in _resources(prod_assembly.template, "AWS::S3::Bucket").values()
        if "CorsConfiguration" in b["Properties"]
    ]
    assert cors and cors[0]["CorsRules"][0]["AllowedOrigins"] == ["https://app.example.com"]
    (api,) = _resources(prod_assembly.template, "AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["CorsConfiguration"]["AllowOrigins"] == ["https://app.example.com"]


def _alarm_descriptions(template: dict[str, Any]) -> list[str]:
    return [
        a["Properties"].get("AlarmDescription", "")
        for a in _resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("AlarmActions")
    ]


def test_alarms_on_lambda_errors_redis_dlqs_and_worker_exits(assembly: Assembly) -> None:
    template = assembly.template
    descriptions = _alarm_descriptions(template)
    functions = _ours(template)
    lambda_alarms = [
        a
        for a in _resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "Errors" and a["Properties"].get("Namespace") == "AWS/Lambda"
    ]
    alarmed = {a["Properties"]["Dimensions"][0]["Value"]["Ref"] for a in lambda_alarms}
    assert alarmed == set(functions)
    redis = [
        a["Properties"]["MetricName"]
        for a in _resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/ElastiCache"
    ]
    assert sorted(redis) == ["DatabaseMemoryUsagePercentage", "Evictions"]
    assert (
        sum("failed 3 times" in d for d in descriptions) == len(_resources(template, "AWS::SQS::Queue")) // 2
    )
    (rule,) = [
        r["Properties"]
        for r in _resources(template, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("detail-type") == ["ECS Task State Change"]
    ]
    assert rule["EventPattern"]["detail"]["stopCode"] == ["EssentialContainerExited", "TaskFailedToStart"]
    (topic,) = [k for k, t in _resources(template, "AWS::SNS::Topic").items() if "Alarm" in k]
    assert rule["Targets"][0]["Arn"] == {"Ref": topic}


def test_backlog_scaling_tracks_backlog_per_worker_and_scales_in_only_when_idle(assembly: Assembly) -> None:
    template = assembly.template
    policies = [
        p["Properties"] for p in _resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    ]
    (tracking,) = [
        p
        for p in policies
        if p["PolicyType"] == "TargetTrackingScaling" and "ECS/ContainerInsights" in json.dumps(p)
    ]
    config = tracking["TargetTrackingScalingPolicyConfiguration"]
    assert config["DisableScaleIn"] is True and config["TargetValue"] == 2
    expressions = [m.get("Expression") for m in config["CustomizedMetricSpecification"]["Metrics"]]
    assert "backlog / MAX([FILL(workers, 0), 1])" in expressions
    steps = [p for p in policies if p["PolicyType"] == "StepScaling"]
    # every step policy that lowers capacity does so only when the whole backlog (in flight too) is 0
    lowering = [
        (name, a["Properties"])
        for name, a in _resources(template, "AWS::CloudWatch::Alarm").items()
        if a["Properties"]["ComparisonOperator"].startswith("LessThan")
        and any(
            "Ref" in act and "ScaleInWhenIdle" in act["Ref"]
            for act in a["Properties"].get("AlarmActions", [])
        )
    ]
    assert len(lowering) == 1 and len(steps) == 2
    idle = lowering[0][1]
    assert idle["MetricName"] == "StreamBacklog" and idle["Threshold"] == 0 and idle["Period"] >= 900
    assert idle["TreatMissingData"] == "notBreaching"  # missing data never scales in
    missing = [
        a["Properties"]
        for a in _resources(template, "AWS::CloudWatch::Alarm").values()
        if "missing" in a["Properties"].get("AlarmDescription", "")
    ]
    assert (
        missing and missing[0]["TreatMissingData"] == "breaching" and missing[0]["Statistic"] == "SampleCount"
    )


def test_image_asset_holds_only_what_the_image_needs(assembly: Assembly) -> None:
    manifest = json.loads((assembly.outdir / f"{assembly.stack.stack_name}.assets.json").read_text())
    ((image,),) = [list(manifest["dockerImages"].values())]
    context = assembly.outdir / image["source"]["directory"]
    staged = {str(p.relative_to(context)) for p in context.rglob("*") if p.is_file()}
    tops = {name.split("/")[0] for name in staged}
    assert tops == {"pyproject.toml", "README.md", "infra", "shared", "containers"}, tops
    assert {n for n in staged if n.startswith("infra/")} == {"infra/packaging.py"}
    assert not [n for n in staged if "__pycache__" in n]


def test_dockerfile_installs_dependencies_before_the_source() -> None:
    dockerfile = (REPO / "containers" / "renderer" / "Dockerfile").read_text()
    dependencies = dockerfile.index("pip install --no-cache-dir -r")
    source = dockerfile.index("COPY shared")
    assert dependencies < source, "dependencies must install before the source is copied"
