"""Least privilege, read from the synthesized templates (dev and prod with every option on):

- every IAM grant that is not on "*" (test_stack.test_iam_is_scoped covers those) names a resource of this stack,
  of the service its actions belong to, or one of the ARNs the operator configured; S3 object grants name only the
  prefixes the code uses;
- each role may write only the S3 prefixes and consume only the queues its code does;
- no security group admits anything from the internet (there is no load balancer: the API is API Gateway → Lambda);
  only Redis admits traffic, on its port, from the broker clients' group; the AWS interface endpoints admit HTTPS
  from the VPC; the groups of the Lambdas, workers and the SageMaker model admit nothing.

Each check is a function of the template, so the last tests feed it a broken copy to show that it can fail."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.infra.assembly import Assembly
from tests.infra.conftest import PROD_CONTEXT

# CloudFormation type → the IAM service prefix whose actions may name it
SERVICE_OF_TYPE = {
    "AWS::DynamoDB::Table": "dynamodb",
    "AWS::S3::Bucket": "s3",
    "AWS::SQS::Queue": "sqs",
    "AWS::StepFunctions::StateMachine": "states",
    "AWS::SecretsManager::Secret": "secretsmanager",
    "AWS::SNS::Topic": "sns",
    "AWS::Logs::LogGroup": "logs",
    "AWS::ECS::Cluster": "ecs",
    "AWS::AutoScaling::AutoScalingGroup": "autoscaling",
}
# what may follow an owned resource's ARN (table indexes, the bucket's object prefixes)
SUFFIXES = {
    "dynamodb": {"/index/*"},
    "s3": {"/uploads/*", "/sources/*", "/outputs/*", "/segments/*", "/sagemaker/*", "/sagemaker/inputs/*"},
}
# role logical-id prefix → (S3 prefixes it may write, queues it consumes) on prod, every option on
REACH = {
    "ApiFunctionServiceRole": ({"uploads"}, set()),
    "IngestStepServiceRole": ({"sources"}, {"ingest"}),
    "DispatchStepServiceRole": (set(), {"dispatch"}),
    "TranscribeStepServiceRole": ({"outputs"}, {"transcribe"}),
    "FinalizeStepServiceRole": (set(), {"finalize"}),
    "WebhookStepServiceRole": (set(), {"webhook"}),
    "NotifyStepServiceRole": (set(), {"notify"}),
    "S3TriggerServiceRole": (set(), {"s3events"}),
    "DeadLetterStepServiceRole": (
        set(),
        {"dispatchdlq", "finalizedlq", "ingestdlq", "transcribedlq", "webhookdlq"},
    ),
    "BacklogMetricServiceRole": ({"sagemaker/inputs"}, set()),
    "WorkersRendererTaskTaskRole": ({"outputs", "segments"}, set()),
    "WorkersSageMakerRole": ({"outputs", "segments", "sagemaker"}, set()),
}
# dev has no AssemblyAI key (no transcribe queue, Lambda or role) and no SageMaker endpoint (no model role, and
# the backlog Lambda hands nothing to SageMaker)
DEV_REACH = {
    **{
        prefix: expected
        for prefix, expected in REACH.items()
        if prefix not in {"TranscribeStepServiceRole", "WorkersSageMakerRole"}
    },
    "DeadLetterStepServiceRole": (set(), {"dispatchdlq", "finalizedlq", "ingestdlq", "webhookdlq"}),
    "BacklogMetricServiceRole": (set(), set()),
}
S3_WRITES = ("s3:PutObject", "s3:Abort*", "s3:DeleteObject*")
SQS_CONSUME = "sqs:DeleteMessage"
REDIS_PORT = 6380


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(role logical id, statement) for every statement of every inline policy."""
    for policy in template["Resources"].values():
        if policy["Type"] != "AWS::IAM::Policy":
            continue
        for role in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                yield role["Ref"], statement


def _owned(template: dict[str, Any], value: Any) -> str | None:
    """The service of the stack resource a Ref / GetAtt names; None when it names none."""
    if not isinstance(value, dict):
        return None
    logical = value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0]
    resource = template["Resources"].get(logical)
    return SERVICE_OF_TYPE.get(resource["Type"]) if resource else None


def _in_account_arn(template: dict[str, Any], parts: list[Any], stage: str) -> str | None:
    """The service of an `arn:<partition>:<service>:<region>:<account>:<name>` join whose name is this stack's
    (an owned resource inside it, or a name the stack gives); None otherwise."""
    if len(parts) < 7 or parts[0] != "arn:" or parts[1] != {"Ref": "AWS::Partition"}:
        return None
    if parts[3] != {"Ref": "AWS::Region"} or parts[5] != {"Ref": "AWS::AccountId"}:
        return None
    service = str(parts[2]).strip(":")
    name = parts[6:]
    text = json.dumps(name)
    names_own = any(f'"{logical}"' in text for logical in template["Resources"])
    stage_names = {
        f":endpoint/framelane-{stage}-",  # the SageMaker endpoint the stack names
        ":secret:" + str(PROD_CONTEXT["assemblyai_secret_name"]) + "-??????",  # the configured AssemblyAI key
        ":log-group:/aws/sagemaker/*",  # SageMaker writes its endpoints' logs there (no narrower name exists)
        ":repository/",  # the CDK bootstrap's asset repository, where the worker image is
    }
    if names_own or any(isinstance(p, str) and p.startswith(tuple(stage_names)) for p in name):
        return service
    return None


def foreign_grants(template: dict[str, Any], stage: str, configured: set[str]) -> list[tuple[str, Any]]:
    """(role, resource) of every grant that is not on "*" and names no resource of this stack of its actions'
    service, no in-account ARN the stack names, and no ARN the operator configured."""
    found = []
    for role, statement in _grants(template):
        services = {action.split(":")[0] for action in _listed(statement["Action"])}
        for resource in _listed(statement["Resource"]):
            if resource == "*" or (isinstance(resource, str) and resource in configured):
                continue
            service = _owned(template, resource)
            if service is None and isinstance(resource, dict) and "Fn::Join" in resource:
                parts = resource["Fn::Join"][1]
                if len(parts) == 2 and isinstance(parts[1], str):
                    service = _owned(template, parts[0])
                    if service is not None and parts[1] not in SUFFIXES.get(service, set()):
                        service = None
                else:
                    service = _in_account_arn(template, parts, stage)
            if service not in services:
                found.append((role, resource))
    return found


def _prefixes(template: dict[str, Any], statement: dict[str, Any]) -> set[str]:
    return {
        resource["Fn::Join"][1][1].strip("/").removesuffix("/*")
        for resource in _listed(statement["Resource"])
        if isinstance(resource, dict)
        and "Fn::Join" in resource
        and _owned(template, resource["Fn::Join"][1][0]) == "s3"
    }


def reach(template: dict[str, Any]) -> dict[str, tuple[set[str], set[str]]]:
    """Role logical-id prefix → (S3 prefixes it may write or delete, queues it may consume)."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    for role, statement in _grants(template):
        prefix = next((p for p in REACH if role.startswith(p)), None)
        if prefix is None:
            continue
        writes, queues = found.setdefault(prefix, (set(), set()))
        actions = _listed(statement["Action"])
        if any(a in S3_WRITES for a in actions):
            writes |= _prefixes(template, statement)
        if SQS_CONSUME in actions:
            for resource in _listed(statement["Resource"]):
                logical = resource["Fn::GetAtt"][0]
                queues.add(
                    logical.removeprefix("Orchestration").rstrip("0123456789ABCDEF").removesuffix("queue")
                )
    return found


def ingress_problems(template: dict[str, Any]) -> list[str]:
    """What in the template admits traffic it should not."""
    resources = template["Resources"]
    groups = {name for name, r in resources.items() if r["Type"] == "AWS::EC2::SecurityGroup"}
    problems = [
        f"{name}: a load balancer" for name, r in resources.items() if "ElasticLoadBalancing" in r["Type"]
    ]
    vpc_cidr = [
        {"Fn::GetAtt": [name, "CidrBlock"]} for name, r in resources.items() if r["Type"] == "AWS::EC2::VPC"
    ]
    endpoint_groups = {
        group["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
        for group in r["Properties"].get("SecurityGroupIds", [])
    }
    redis_groups = {
        group["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::ElastiCache::ReplicationGroup"
        for group in r["Properties"]["SecurityGroupIds"]
    }
    for name in groups:
        for rule in resources[name]["Properties"].get("SecurityGroupIngress", []):
            https_from_vpc = (
                rule.get("CidrIp") in vpc_cidr and rule.get("FromPort") == rule.get("ToPort") == 443
            )
            if name not in endpoint_groups or not https_from_vpc or "CidrIpv6" in rule:
                problems.append(f"{name}: inline ingress {rule}")
    for name, r in resources.items():
        if r["Type"] != "AWS::EC2::SecurityGroupIngress":
            continue
        rule = r["Properties"]
        target, source = rule["GroupId"]["Fn::GetAtt"][0], rule.get("SourceSecurityGroupId")
        if "CidrIp" in rule or "CidrIpv6" in rule or not isinstance(source, dict):
            problems.append(f"{name}: ingress from an address range {rule}")
        elif target not in redis_groups or (rule["FromPort"], rule["ToPort"]) != (REDIS_PORT, REDIS_PORT):
            problems.append(f"{name}: ingress to {target} on {rule['FromPort']}-{rule['ToPort']}")
        elif source["Fn::GetAtt"][0] not in groups:
            problems.append(f"{name}: ingress from a group of another stack")
    for name, r in resources.items():
        if r["Type"] in {"AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroup"}:
            continue
        text = json.dumps(r.get("Properties", {}))
        if any(marker in text for marker in ('"0.0.0.0/0"', '"::/0"')) and r["Type"] != "AWS::EC2::Route":
            problems.append(f"{name}: {r['Type']} open to the internet")
    return problems


def compute_groups(template: dict[str, Any]) -> set[str]:
    """The security groups of everything that runs our code: Lambdas, the worker instances and tasks, the model."""
    found = set()
    for r in template["Resources"].values():
        props = r.get("Properties", {})
        if r["Type"] == "AWS::Lambda::Function" and "VpcConfig" in props:
            found |= {g["Fn::GetAtt"][0] for g in props["VpcConfig"]["SecurityGroupIds"]}
        elif r["Type"] == "AWS::EC2::LaunchTemplate":
            found |= {g["Fn::GetAtt"][0] for g in props["LaunchTemplateData"].get("SecurityGroupIds", [])}
        elif r["Type"] == "AWS::ECS::Service":
            vpc = props.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
            found |= {g["Fn::GetAtt"][0] for g in vpc.get("SecurityGroups", [])}
        elif r["Type"] == "AWS::SageMaker::Model":
            found |= {g["Fn::GetAtt"][0] for g in props.get("VpcConfig", {}).get("SecurityGroupIds", [])}
    return found


@pytest.fixture(params=["dev", "prod"])
def stage(request: pytest.FixtureRequest) -> tuple[str, Assembly]:
    fixture: Assembly = request.getfixturevalue("assembly" if request.param == "dev" else "prod_assembly")
    return request.param, fixture


def _configured() -> set[str]:
    return {str(PROD_CONTEXT["c2pa_signing_secret_arn"]), str(PROD_CONTEXT["c2pa_kms_key_arn"])}


def test_every_grant_names_this_stacks_resources(stage: tuple[str, Assembly]) -> None:
    name, assembly = stage
    template = assembly.template
    assert sum(1 for _ in _grants(template)) > 40
    assert foreign_grants(template, name, _configured()) == []


def test_each_role_writes_only_its_prefixes_and_consumes_only_its_queues(stage: tuple[str, Assembly]) -> None:
    name, assembly = stage
    expected = DEV_REACH if name == "dev" else REACH
    found = reach(assembly.template)
    assert {prefix: found.get(prefix, (set(), set())) for prefix in expected} == expected


def test_nothing_is_open_to_the_internet_and_only_redis_admits_traffic(stage: tuple[str, Assembly]) -> None:
    _, assembly = stage
    template = assembly.template
    assert ingress_problems(template) == []
    ingress = [r for r in template["Resources"].values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"]
    assert len(ingress) == 1  # Redis, from the broker clients


def test_what_runs_our_code_admits_nothing(stage: tuple[str, Assembly]) -> None:
    _, assembly = stage
    template = assembly.template
    groups = compute_groups(template)
    assert len(groups) == 2  # broker clients, and the outbound-only group of the other Lambdas
    resources = template["Resources"]
    for group in groups:
        assert "SecurityGroupIngress" not in resources[group]["Properties"], group
    targets = {
        r["Properties"]["GroupId"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress"
    }
    assert not targets & groups


# the checks can fail: each is fed a template broken the way it guards against


def test_the_checks_refuse_a_broken_template(prod_assembly: Assembly) -> None:
    template = prod_assembly.template
    configured = _configured()

    def broken(change: Any) -> dict[str, Any]:
        copied = copy.deepcopy(template)
        change(copied["Resources"])
        return copied

    def policy(resources: dict[str, Any], prefix: str) -> dict[str, Any]:
        return next(
            r for n, r in resources.items() if r["Type"] == "AWS::IAM::Policy" and n.startswith(prefix)
        )

    def foreign_bucket(resources: dict[str, Any]) -> None:
        statements = policy(resources, "IngestStep")["Properties"]["PolicyDocument"]["Statement"]
        statements.append(
            {"Action": "s3:GetObject", "Effect": "Allow", "Resource": "arn:aws:s3:::someone-elses/*"}
        )

    def queue_for_dynamodb(resources: dict[str, Any]) -> None:
        statements = policy(resources, "FinalizeStep")["Properties"]["PolicyDocument"]["Statement"]
        queue = next(n for n, r in resources.items() if r["Type"] == "AWS::SQS::Queue")
        statements.append(
            {"Action": "dynamodb:GetItem", "Effect": "Allow", "Resource": {"Fn::GetAtt": [queue, "Arn"]}}
        )

    def whole_bucket_write(resources: dict[str, Any]) -> None:
        statements = policy(resources, "ApiFunction")["Properties"]["PolicyDocument"]["Statement"]
        bucket = next(n for n, r in resources.items() if r["Type"] == "AWS::S3::Bucket")
        whole = {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/*"]]}
        statements.append({"Action": "s3:PutObject", "Effect": "Allow", "Resource": whole})

    for change in (foreign_bucket, queue_for_dynamodb, whole_bucket_write):
        assert foreign_grants(broken(change), "prod", configured), change.__name__

    def outputs_for_ingest(resources: dict[str, Any]) -> None:
        bucket = next(n for n, r in resources.items() if r["Type"] == "AWS::S3::Bucket")
        outputs = {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/outputs/*"]]}
        statements = policy(resources, "IngestStep")["Properties"]["PolicyDocument"]["Statement"]
        statements.append({"Action": ["s3:PutObject"], "Effect": "Allow", "Resource": outputs})

    assert reach(broken(outputs_for_ingest))["IngestStepServiceRole"] != REACH["IngestStepServiceRole"]

    def open_redis(resources: dict[str, Any]) -> None:
        rule = next(r for r in resources.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress")
        rule["Properties"] = {**rule["Properties"], "CidrIp": "0.0.0.0/0"}
        del rule["Properties"]["SourceSecurityGroupId"]

    def ssh_to_workers(resources: dict[str, Any]) -> None:
        group = next(n for n in resources if n.startswith("NetworkAppSecurityGroup"))
        resources[group]["Properties"]["SecurityGroupIngress"] = [
            {"CidrIpv6": "::/0", "FromPort": 22, "ToPort": 22, "IpProtocol": "tcp"}
        ]

    def endpoint_from_anywhere(resources: dict[str, Any]) -> None:
        group = next(n for n in resources if n.startswith("NetworkVpcSecretsManagerSecurityGroup"))
        resources[group]["Properties"]["SecurityGroupIngress"][0]["CidrIp"] = "0.0.0.0/0"

    def another_port_on_redis(resources: dict[str, Any]) -> None:
        rule = next(r for r in resources.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress")
        rule["Properties"] = {**rule["Properties"], "FromPort": 0, "ToPort": 65535}

    for change in (open_redis, ssh_to_workers, endpoint_from_anywhere, another_port_on_redis):
        assert ingress_problems(broken(change)), change.__name__
