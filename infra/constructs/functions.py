"""How every Framelane Lambda is built: Python 3.11 on x86_64 (the layer's wheels), Powertools env, X-Ray, in the VPC,
one layer. Resources come in through `infra.constructs.access` (environment + grant), nothing by default."""

from __future__ import annotations

from aws_cdk import Duration, Size
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.network import Network
from infra.packaging import function_code

RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


class FunctionFactory:
    def __init__(
        self,
        scope: Construct,
        *,
        config: StageConfig,
        network: Network,
        layer: lambda_.ILayerVersion,
    ) -> None:
        self.scope = scope
        self.config = config
        self.network = network
        self.layer = layer

    def create(
        self,
        construct_id: str,
        code_name: str,
        *,
        service: str,
        timeout: Duration,
        memory: int = 512,
        environment: dict[str, str] | None = None,
        broker_client: bool = False,
        tmp_gib: int | None = None,
    ) -> lambda_.Function:
        """`broker_client`: the function talks to Redis (only those get the group Redis admits); `tmp_gib`: /tmp
        beyond the default 512 MB (functions that hold a whole source there)."""
        log_group = logs.LogGroup(
            self.scope,
            f"{construct_id}Logs",
            retention=RETENTION.get(self.config.log_retention_days, logs.RetentionDays.ONE_MONTH),
        )
        return lambda_.Function(
            self.scope,
            construct_id,
            runtime=lambda_.Runtime.PYTHON_3_11,
            architecture=lambda_.Architecture.X86_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(function_code(code_name))),
            layers=[self.layer],
            timeout=timeout,
            memory_size=memory,
            ephemeral_storage_size=Size.gibibytes(tmp_gib) if tmp_gib else None,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            vpc=self.network.vpc,
            vpc_subnets=self.network.private_subnets,
            security_groups=[
                self.network.app_security_group if broker_client else self.network.function_security_group
            ],
            environment={
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": "Framelane",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **(environment or {}),
            },
        )
