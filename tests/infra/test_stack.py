"""CDK synth assertions: one module-scoped synth of the whole stack, checked construct by construct."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Annotations, Match, Template

from framelane.adapters.keys import TASK_INDEXES, TTL_ATTRIBUTE
from framelane.pipeline.asl import TIMEOUTS, task_state_machine, webhook_state_machine
from infra.stack import FramelaneStack
from tests.infra.assembly import Assembly, synth

# Actions AWS only authorizes on Resource "*".
STAR_ONLY_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "ec2:DescribeNetworkInterfaces",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ecr:GetAuthorizationToken",
    # SageMaker places the endpoint's ENIs in our subnets with its execution role (no resource-level scoping)
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterfacePermission",
    "ecs:DiscoverPollEndpoint",
    # Step Functions log delivery (vended logs) is authorized on "*" only
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


@pytest.fixture(scope="module")
def stack(assembly: Assembly) -> FramelaneStack:
    return assembly.stack


@pytest.fixture(scope="module")
def template(stack: FramelaneStack) -> Template:
    return Template.from_stack(stack)


def test_network_private_subnets_and_gateway_endpoints(template: Template) -> None:
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.resource_properties_count_is("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": False}, 2)
    template.resource_properties_count_is("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"}, 2)
    template.resource_count_is("AWS::EC2::FlowLog", 1)


def test_table_with_gsis_pitr_ttl_and_encryption(template: Template) -> None:
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "GlobalSecondaryIndexes": [Match.object_like({"IndexName": name}) for name in TASK_INDEXES],
        },
    )


def test_bucket_encrypted_private_with_lifecycle_and_upload_notifications(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": Match.any_value(),
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": Match.any_value(),
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like({"Prefix": "sources/", "ExpirationInDays": 7}),
                        Match.object_like({"Prefix": "uploads/", "ExpirationInDays": 7}),
                        Match.object_like({"Prefix": "outputs/", "ExpirationInDays": 30}),
                        Match.object_like({"Prefix": "segments/", "ExpirationInDays": 1}),
                    ]
                )
            },
        },
    )
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    Match.object_like(
                        {
                            "Events": ["s3:ObjectCreated:*"],
                            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
                        }
                    )
                ]
            },
        },
    )


def test_http_api_with_throttling_and_access_logs(template: Template) -> None:
    template.resource_count_is("AWS::ApiGatewayV2::Api", 1)
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "DefaultRouteSettings": {"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100},
            "AccessLogSettings": {
                "DestinationArn": Match.any_value(),
                "Format": Match.string_like_regexp("requestId"),
            },
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "handler.handler",
            "Runtime": "python3.11",
            "TracingConfig": {"Mode": "Active"},
            "Environment": {"Variables": Match.object_like({"POWERTOOLS_SERVICE_NAME": "framelane-api"})},
            "VpcConfig": Match.any_value(),
        },
    )


def test_redis_tls_auth_private(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {
            "TransitEncryptionEnabled": True,
            "AtRestEncryptionEnabled": True,
            "AuthToken": Match.any_value(),
            "Port": 6380,
            "CacheSubnetGroupName": Match.any_value(),
            "MultiAZEnabled": True,
        },
    )
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "Framelane Redis",
            "SecurityGroupEgress": Match.any_value(),
        },
    )


def test_gpu_workers_scaled_on_stream_backlog(template: Template) -> None:
    template.has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {
            "LaunchTemplateData": Match.object_like(
                {
                    "InstanceType": "g5.xlarge",
                    "ImageId": {"Ref": Match.string_like_regexp("gpurecommendedimageid")},
                }
            ),
        },
    )
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "ContainerDefinitions": [
                Match.object_like(
                    {
                        "ResourceRequirements": [{"Type": "GPU", "Value": "1"}],
                        "Command": ["worker"],
                    }
                )
            ],
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "StepScaling",
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "StreamBacklog",
            "Namespace": "Framelane",
        },
    )
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})


def test_queues_have_dlqs_and_lambdas_report_batch_failures(template: Template) -> None:
    queues = template.find_resources("AWS::SQS::Queue")
    with_redrive = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    # dev has no AssemblyAI key: no transcribe queue (the workers transcribe, through the broker)
    assert len(queues) == 12 and len(with_redrive) == 6
    assert all(q["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 3 for q in with_redrive)
    mappings = template.find_resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 10  # 6 queues + the 4 callback DLQs (dead-letter Lambda)
    assert all(
        m["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings.values()
    )


def _resolve(value: Any, stack: Stack) -> str:
    """A DefinitionString with queue URLs rendered as <logicalId> placeholders."""
    if isinstance(value, str):
        return value
    parts = value["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else f"<{p['Ref']}>" for p in parts)


def test_state_machines_are_the_shared_asl(stack: FramelaneStack, template: Template) -> None:
    machines = template.find_resources("AWS::StepFunctions::StateMachine")
    assert len(machines) == 2
    queues = stack.orchestration.queues
    ref = {step: f"<{stack.get_logical_id(queue.node.default_child)}>" for step, queue in queues.items()}  # type: ignore[arg-type]
    expected_task = task_state_machine(stack.config.task_machine(ref))
    expected_webhook = webhook_state_machine(ref["webhook"])
    definitions = [
        json.loads(_resolve(m["Properties"]["DefinitionString"], stack)) for m in machines.values()
    ]
    assert expected_task in definitions and expected_webhook in definitions
    for machine in machines.values():
        assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def _task_machine(stack: FramelaneStack, template: dict[str, Any]) -> dict[str, Any]:
    logical = stack.get_logical_id(stack.orchestration.task_machine.node.default_child)  # type: ignore[arg-type]
    machine: dict[str, Any] = json.loads(
        _resolve(template["Resources"][logical]["Properties"]["DefinitionString"], stack)
    )
    return machine


def test_without_an_assemblyai_key_the_gpu_workers_transcribe(
    assembly: Assembly, prod_assembly: Assembly
) -> None:
    """dev names no AssemblyAI key: the Transcribe state goes to the dispatch queue (the broker's transcribe
    stream, which the GPU workers serve with the offline engine), timed like a render, and there is no transcribe
    queue or Lambda; prod names a key: the Transcribe step's Lambda calls AssemblyAI (and polls)."""
    stack = assembly.stack
    states = _task_machine(stack, assembly.template)["States"]
    dispatch = f"<{stack.get_logical_id(stack.orchestration.queues['dispatch'].node.default_child)}>"  # type: ignore[arg-type]
    transcribe, render = states["Transcribe"], states["Render"]
    assert transcribe["Parameters"]["QueueUrl"] == render["Parameters"]["QueueUrl"] == dispatch
    assert transcribe["HeartbeatSeconds"] == render["HeartbeatSeconds"]
    assert transcribe["Catch"][0] == {"ErrorEquals": TIMEOUTS, "ResultPath": "$.error", "Next": "WorkerLost"}
    assert "PollTranscript" not in states and "transcribe" not in stack.orchestration.queues
    steps = [
        r["Properties"]["Environment"]["Variables"].get("FRAMELANE_STEP")
        for r in assembly.template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "Environment" in r["Properties"]
    ]
    assert "dispatch" in steps and "transcribe" not in steps

    prod = prod_assembly.stack
    states = _task_machine(prod, prod_assembly.template)["States"]
    queue = f"<{prod.get_logical_id(prod.orchestration.queues['transcribe'].node.default_child)}>"  # type: ignore[arg-type]
    assert (
        states["Transcribe"]["Parameters"]["QueueUrl"] == states["PollTranscript"]["Parameters"]["QueueUrl"]
    )
    assert states["Transcribe"]["Parameters"]["QueueUrl"] == queue
    assert "HeartbeatSeconds" not in states["Transcribe"]


def test_render_queue_keeper_runs_every_minute_and_may_answer_the_render_step(
    stack: FramelaneStack, template: Template
) -> None:
    """Queued renders are heartbeated by the keeper in the every-minute backlog Lambda, so the Render step's
    heartbeat (meant for running work) cannot fail a render that waits for a worker."""
    keeper = stack.workers.backlog_function
    keeper_id = stack.get_logical_id(keeper.node.default_child)  # type: ignore[arg-type]
    variables = template.find_resources("AWS::Lambda::Function")[keeper_id]["Properties"]["Environment"]
    assert variables["Variables"]["FRAMELANE_RENDER_QUEUE_WAIT_SECONDS"] == "3600"
    rules = template.find_resources(
        "AWS::Events::Rule", {"Properties": {"ScheduleExpression": "rate(1 minute)"}}
    )
    targets = [t["Arn"]["Fn::GetAtt"][0] for rule in rules.values() for t in rule["Properties"]["Targets"]]
    assert keeper_id in targets
    role_id = stack.get_logical_id(keeper.role.node.default_child)  # type: ignore[union-attr,arg-type]
    actions = {
        action
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in _actions(statement)
    }
    assert {"states:SendTaskHeartbeat", "states:SendTaskFailure", "dynamodb:DeleteItem"} <= actions
    machine = json.loads(
        _resolve(
            template.find_resources("AWS::StepFunctions::StateMachine")[
                stack.get_logical_id(stack.orchestration.task_machine.node.default_child)  # type: ignore[arg-type]
            ]["Properties"]["DefinitionString"],
            stack,
        )
    )
    assert machine["States"]["Render"]["HeartbeatSeconds"] >= 3 * 60  # three keeper runs


def test_alarms_and_dashboard(template: Template) -> None:
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    descriptions = [a["Properties"].get("AlarmDescription", "") for a in alarms.values()]
    assert sum("failed 3 times" in d for d in descriptions) == 6  # one per DLQ (no transcribe queue in dev)
    assert sum("state machine executions failed" in d for d in descriptions) == 2
    assert any("5xx" in d for d in descriptions) and any("backlog" in d for d in descriptions)
    assert all(
        a["Properties"].get("AlarmActions") for a in alarms.values() if "AlarmDescription" in a["Properties"]
    )
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def test_iam_is_scoped(template: Template, prod_assembly: Assembly) -> None:
    """No statement grants on Resource "*" except actions AWS only authorizes that way, or under a Condition
    that scopes it (ECS agent actions limited to our cluster); on prod with the SageMaker endpoint too."""
    _assert_scoped(template)
    _assert_scoped(Template.from_stack(prod_assembly.stack))


def _assert_scoped(template: Template) -> None:
    for name, policy in template.find_resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            if "*" in resources and "Condition" not in statement:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                allowed = set(STAR_ONLY_ACTIONS)
                if name.startswith("WorkersGpuInstancesInstanceRole"):
                    # the ECS agent policy CDK attaches to container instances (agent log streams)
                    allowed |= {"logs:CreateLogStream", "logs:PutLogEvents"}
                # EC2 Describe* calls have no resource-level permissions
                assert {a for a in actions if not a.startswith("ec2:Describe")} <= allowed, (name, actions)


def test_secrets_not_in_environment(template: Template) -> None:
    for function in template.find_resources("AWS::Lambda::Function").values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert "FRAMELANE_CURSOR_SECRET" not in variables and "FRAMELANE_REDIS_URL" not in variables


def test_cdk_nag_finds_nothing_unjustified(stack: FramelaneStack) -> None:
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert errors == [], [f"{e.id}: {e.entry.data}" for e in errors]


def test_transcription_callback_route_is_wired(prod_assembly: Assembly) -> None:
    """AssemblyAI's webhook reaches the API (HTTP API default route → FastAPI /v1/callbacks/…), which may
    answer the Transcribe step; the transcribe step knows the public URL to give AssemblyAI."""
    stack = prod_assembly.stack
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "FRAMELANE_STEP": "transcribe",
                        "FRAMELANE_CALLBACK_BASE_URL": Match.any_value(),
                        "FRAMELANE_ASSEMBLYAI_SECRET_ARN": Match.any_value(),
                    }
                )
            },
        },
    )
    api_role = stack.get_logical_id(stack.api.function.role.node.default_child)  # type: ignore[union-attr,arg-type]
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": api_role}]}})
    actions = {
        a
        for p in policies.values()
        for st in p["Properties"]["PolicyDocument"]["Statement"]
        for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
    }
    assert {"states:SendTaskSuccess", "states:SendTaskFailure"} <= actions


def test_optional_sagemaker_endpoint_scales_to_zero(prod_assembly: Assembly) -> None:
    stack = prod_assembly.stack
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "AsyncInferenceConfig": Match.object_like({"OutputConfig": Match.any_value()}),
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ServiceNamespace": "sagemaker",
            "MinCapacity": 0,
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        },
    )
    assert Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*")) == []
    # the backlog Lambda dispatches: it names the endpoint and may invoke it asynchronously
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like({"FRAMELANE_SAGEMAKER_ENDPOINT": "framelane-prod-renderer"})
            }
        },
    )
    template.has_resource_properties("AWS::SageMaker::Endpoint", {"EndpointName": "framelane-prod-renderer"})
    model = next(iter(template.find_resources("AWS::SageMaker::Model").values()))
    assert "FRAMELANE_REDIS_AUTH_SECRET_ARN" in model["Properties"]["PrimaryContainer"]["Environment"]


def test_content_credentials_secret_and_kms_key_reach_only_the_workers(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:framelane/c2pa-AbCdEf"
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    stack = synth(
        tmp_path_factory.mktemp("cdk.out.c2pa"),
        stage="c2pa",
        c2pa_signing_secret_arn=secret,
        c2pa_kms_key_arn=key,
    ).stack
    template = Template.from_stack(stack)
    (definition,) = template.find_resources("AWS::ECS::TaskDefinition").values()
    (container,) = definition["Properties"]["ContainerDefinitions"]
    variables = {v["Name"]: v["Value"] for v in container["Environment"]}
    assert variables["FRAMELANE_C2PA_SIGNING_SECRET_ARN"] == secret
    assert variables["FRAMELANE_C2PA_KMS_KEY_ID"] == key
    assert variables["FRAMELANE_CONTENT_CREDENTIALS"] == "on"
    role = stack.get_logical_id(stack.workers.task_definition.task_role.node.default_child)  # type: ignore[arg-type]
    statements = [
        st
        for p in template.find_resources(
            "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}}
        ).values()
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any(
        st["Resource"] == key and set(st["Action"]) == {"kms:Sign", "kms:GetPublicKey"} for st in statements
    )
    assert any(
        "secretsmanager:GetSecretValue" in st["Action"] and secret in st["Resource"] for st in statements
    )
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert errors == [], [f"{e.id}: {e.entry.data}" for e in errors]


def test_console_api_reads_sources_and_bucket_allows_browsers(
    stack: FramelaneStack, template: Template, prod_assembly: Assembly
) -> None:
    """The console plays a task's ingested source (signed by the API) and PUTs uploads from the browser: the
    bucket admits the configured browser origins (`cors_allowed_origins`; none by default)."""
    role = stack.get_logical_id(stack.api.function.role.node.default_child)  # type: ignore[union-attr,arg-type]
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    readable = [
        json.dumps(resource)
        for p in policies.values()
        for st in p["Properties"]["PolicyDocument"]["Statement"]
        if any(
            str(a).startswith("s3:GetObject")
            for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
        )
        for resource in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])
    ]
    assert any("/sources/*" in r for r in readable), readable
    prod = prod_assembly.stack
    bucket = prod.get_logical_id(prod.storage.bucket.node.default_child)  # type: ignore[arg-type]
    resources = Template.from_stack(prod).to_json()["Resources"]
    (rule,) = resources[bucket]["Properties"]["CorsConfiguration"]["CorsRules"]
    # the browser's presigned PUT sends Content-Type and the upload's x-amz-meta-* headers
    assert {"PUT", "GET"} <= set(rule["AllowedMethods"])
    assert {"content-type", "x-amz-*"} <= set(rule["AllowedHeaders"])


def test_workspace_limit_defaults_reach_every_broker_client(
    template: Template, prod_assembly: Assembly
) -> None:
    """The API (rate limits), dispatch and keeper (quota kept with each entry) and the workers (whose take
    applies the default quota) all read the same defaults from the CDK config."""
    for chosen, concurrency, creations in [
        (template, "8", "600"),
        (Template.from_stack(prod_assembly.stack), "3", "120"),
    ]:
        containers = [
            {v["Name"]: v["Value"] for v in c["Environment"]}
            for d in chosen.find_resources("AWS::ECS::TaskDefinition").values()
            for c in d["Properties"]["ContainerDefinitions"]
        ]
        functions = [
            f["Properties"]["Environment"]["Variables"]
            for f in chosen.find_resources("AWS::Lambda::Function").values()
            if "FRAMELANE_STREAM_PREFIX" in f["Properties"].get("Environment", {}).get("Variables", {})
        ]
        assert len(functions) >= 3 and containers  # api, dispatch, backlog/keeper; the workers
        for variables in [*containers, *functions]:
            assert variables["FRAMELANE_WORKSPACE_CONCURRENCY"] == concurrency
            assert variables["FRAMELANE_RATE_LIMIT_CREATE_PER_MINUTE"] == creations
            assert variables["FRAMELANE_RATE_LIMIT_REQUESTS_BURST"] == "500"
