"""cdk-nag AwsSolutions findings we accept, each with its reason."""

from __future__ import annotations

from aws_cdk import Stack
from cdk_nag import NagPackSuppression, NagSuppressions

STACK_WIDE = [
    NagPackSuppression(
        id="AwsSolutions-IAM4",
        reason="Lambda roles use AWSLambdaBasicExecutionRole (logs) and AWSLambdaVPCAccessExecutionRole (VPC ENIs): "
        "AWS-maintained minimal policies for exactly those needs.",
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        reason="Wildcards come only from CDK grants scoped to our resources: object keys under one prefix "
        "(uploads/*, sources/*, outputs/*), the table's GSIs (table/index/*), S3 action groups (Abort*, List*), "
        "and X-Ray/ENI actions that AWS only authorizes on '*'.",
    ),
    NagPackSuppression(
        id="AwsSolutions-L1",
        reason="All Lambdas and the worker image use Python 3.11, the version the model stack is pinned to; "
        "one runtime across functions and workers keeps the shared package identical.",
    ),
    NagPackSuppression(
        id="AwsSolutions-SMG4",
        reason="Random HMAC/AUTH tokens and the external AssemblyAI key are rotated by the documented ops "
        "procedure (docs/OPERATIONS.md); automatic rotation would need dual-key support in clients.",
    ),
]


def suppress_justified(stack: Stack) -> None:
    NagSuppressions.add_stack_suppressions(stack, STACK_WIDE, apply_to_nested_stacks=True)
    path = f"/{stack.stack_name}"
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        f"{path}/Api/HttpApi/DefaultRoute/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-APIG4",
                reason="The API authenticates every route but /healthz itself: "
                "Bearer API keys, hashed in DynamoDB, scoped to one workspace.",
            ),
        ],
    )
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        f"{path}/Workers/GpuInstances/ASG",
        [
            NagPackSuppression(
                id="AwsSolutions-AS3",
                reason="Scaling is driven by the ECS capacity provider; the "
                "backlog alarm and the dashboard cover capacity problems.",
            ),
        ],
    )
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        f"{path}/Workers/RendererTask/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-ECS2",
                reason="Environment holds names and secret ARNs only; secret "
                "values are fetched at start from Secrets Manager.",
            ),
        ],
    )
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        f"{path}/Workers/GpuInstances/LifecycleHookDrainHook/Topic/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-SNS3",
                reason="CDK-managed drain-hook topic, used only by the "
                "autoscaling service inside the account.",
            ),
        ],
    )
