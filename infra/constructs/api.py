"""HTTP API (API Gateway v2) → the API Lambda (FastAPI + Mangum): throttled, with JSON access logs."""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StageConfig
from infra.constructs import access
from infra.constructs.functions import FunctionFactory
from infra.constructs.orchestration import Orchestration
from infra.constructs.storage import Storage

ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "status": "$context.status",
    "latency": "$context.responseLatency",
    "integrationError": "$context.integrationErrorMessage",
}


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        functions: FunctionFactory,
        storage: Storage,
        orchestration: Orchestration,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = functions.create(
            "ApiFunction",
            "api",
            service="framelane-api",
            timeout=Duration.seconds(29),
            memory=1024,
            broker_client=True,
        )
        access.table(self.function, self.function, storage.table)
        # presigned upload PUTs and output GETs are signed with this role; transcripts are read from outputs/;
        # the console's "before" video is a presigned GET of the ingested source
        access.bucket(
            self.function, self.function, storage.bucket, read=("outputs/", "sources/"), put=("uploads/",)
        )
        access.starts(self.function, self.function, access.TASK_MACHINE, orchestration.task_machine)
        orchestration.task_machine.grant_execution(self.function, "states:StopExecution")

        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description="Framelane public API",
            default_integration=integrations.HttpLambdaIntegration("Lambda", self.function),
            create_default_stage=False,
            cors_preflight=apigwv2.CorsPreflightOptions(
                allow_origins=config.cors_allowed_origins,
                allow_methods=[apigwv2.CorsHttpMethod.ANY],
                allow_headers=["authorization", "content-type", "idempotency-key"],
            )
            if config.cors_allowed_origins
            else None,
        )
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH)
        self.stage = apigwv2.CfnStage(
            self,
            "DefaultStage",
            api_id=self.http_api.api_id,
            stage_name="$default",
            auto_deploy=True,
            default_route_settings=apigwv2.CfnStage.RouteSettingsProperty(
                throttling_rate_limit=config.api_throttle_rate,
                throttling_burst_limit=config.api_throttle_burst,
            ),
            access_log_settings=apigwv2.CfnStage.AccessLogSettingsProperty(
                destination_arn=self.access_logs.log_group_arn, format=json.dumps(ACCESS_LOG_FORMAT)
            ),
        )
        self.url = f"https://{self.http_api.api_id}.execute-api.{self.http_api.stack.region}.amazonaws.com"
