"""HTTP API (API Gateway v2) → the API Lambda (FastAPI + Mangum): throttled, with JSON access logs."""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StageConfig
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
            environment={"FRAMELANE_TASK_STATE_MACHINE_ARN": orchestration.task_machine.state_machine_arn},
        )
        storage.table.grant_read_write_data(self.function)
        storage.bucket.grant_put(self.function, "uploads/*")  # presigned PUTs are signed with this role
        storage.bucket.grant_read(self.function, "outputs/*")  # presigned GETs of outputs
        storage.bucket.grant_read(self.function, "sources/*")  # the console's "before" video
        orchestration.task_machine.grant_start_execution(self.function)
        orchestration.task_machine.grant_execution(self.function, "states:StopExecution")

        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description="Framelane public API",
            default_integration=integrations.HttpLambdaIntegration("Lambda", self.function),
            create_default_stage=False,
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
