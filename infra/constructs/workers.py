"""GPU renderer workers: an ECS service on GPU instances (ECS GPU AMI), scaled on the Redis stream backlog that a
scheduled Lambda publishes as a CloudWatch metric; optionally a SageMaker asynchronous endpoint (scale to zero)
running the same image."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import KEEPER_INTERVAL_SECONDS, StageConfig
from infra.constructs import access
from infra.constructs.broker import Broker
from infra.constructs.functions import FunctionFactory
from infra.constructs.network import Network
from infra.constructs.orchestration import Orchestration
from infra.constructs.storage import Storage
from infra.packaging import REPO

BACKLOG_METRIC = cloudwatch.Metric(
    namespace="Framelane",
    metric_name="StreamBacklog",
    dimensions_map={"service": "framelane-backlog"},
    statistic="Maximum",
    period=Duration.minutes(1),
)
# The image needs pyproject.toml, README.md, infra/packaging.py (reads the extras), shared/ and containers/renderer/
# only: nothing else enters the build context, so an edit elsewhere (docs, tests, infra) rebuilds nothing.
IMAGE_EXCLUDES = [  # .dockerignore rules: everything out, then the allowlist back in
    "*",
    "!pyproject.toml",
    "!README.md",
    "!shared",
    "!containers/renderer",
    "!infra/packaging.py",
    "**/__pycache__",
    "**/*.pyc",
]


def _metric_query(
    query_id: str, statistic: str, source: cloudwatch.Metric, dimensions: dict[str, str]
) -> appscaling.CfnScalingPolicy.TargetTrackingMetricDataQueryProperty:
    """One metric of a target-tracking policy's metric math, in CloudFormation's terms (not returned itself)."""
    policy = appscaling.CfnScalingPolicy
    return policy.TargetTrackingMetricDataQueryProperty(
        id=query_id,
        return_data=False,
        metric_stat=policy.TargetTrackingMetricStatProperty(
            stat=statistic,
            metric=policy.TargetTrackingMetricProperty(
                namespace=source.namespace,
                metric_name=source.metric_name,
                dimensions=[
                    policy.TargetTrackingMetricDimensionProperty(name=name, value=value)
                    for name, value in dimensions.items()
                ],
            ),
        ),
    )


class Workers(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        network: Network,
        storage: Storage,
        orchestration: Orchestration,
        functions: FunctionFactory,
        broker: Broker,
    ) -> None:
        super().__init__(scope, construct_id)
        self.image = ecr_assets.DockerImageAsset(
            self,
            "RendererImage",
            directory=str(REPO),
            file="containers/renderer/Dockerfile",
            exclude=IMAGE_EXCLUDES,
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=network.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )
        group = autoscaling.AutoScalingGroup(
            self,
            "GpuInstances",
            vpc=network.vpc,
            vpc_subnets=network.private_subnets,
            instance_type=ec2.InstanceType(config.gpu_instance_type),
            # Amazon Linux 2023 ECS GPU AMI (Amazon Linux 2 reaches end of life on 2026-06-30)
            machine_image=ecs.EcsOptimizedImage.amazon_linux2023(ecs.AmiHardwareType.GPU),
            min_capacity=0,
            max_capacity=config.workers_max,
            security_group=network.app_security_group,
            require_imdsv2=True,
            block_devices=[
                autoscaling.BlockDevice(
                    device_name="/dev/xvda", volume=autoscaling.BlockDeviceVolume.ebs(100, encrypted=True)
                )
            ],
        )
        provider = ecs.AsgCapacityProvider(
            self, "GpuCapacity", auto_scaling_group=group, enable_managed_termination_protection=False
        )
        self.cluster.add_asg_capacity_provider(provider)
        self.task_definition = ecs.Ec2TaskDefinition(
            self, "RendererTask", network_mode=ecs.NetworkMode.AWS_VPC
        )
        self.container = self.task_definition.add_container(
            "renderer",
            image=ecs.ContainerImage.from_docker_image_asset(self.image),
            gpu_count=config.gpu_count,
            memory_reservation_mib=12 * 1024,
            command=["worker"],
            environment={"POWERTOOLS_SERVICE_NAME": "framelane-worker"},
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="renderer",
                log_group=logs.LogGroup(self, "WorkerLogs", retention=logs.RetentionDays.ONE_MONTH),
            ),
            stop_timeout=Duration.seconds(120),
        )
        role = self.task_definition.task_role
        access.table(self.container, role, storage.table)
        access.bucket(
            self.container,
            role,
            storage.bucket,
            read=("sources/", "uploads/", "outputs/", "segments/"),
            put=("outputs/", "segments/"),
            delete=("segments/",),
        )
        orchestration.task_machine.grant_task_response(role)
        # task.progress events start webhook deliveries
        access.starts(self.container, role, access.WEBHOOK_MACHINE, orchestration.webhook_machine)
        self.signing_secret = (
            secretsmanager.Secret.from_secret_complete_arn(
                self, "ContentCredentialsSigning", config.c2pa_signing_secret_arn
            )
            if config.c2pa_signing_secret_arn
            else None
        )
        self.signing_key = (
            kms.Key.from_key_arn(self, "ContentCredentialsKey", config.c2pa_kms_key_arn)
            if config.c2pa_kms_key_arn
            else None
        )
        self._sign_outputs(config, self.container, role)
        self.service = ecs.Ec2Service(
            self,
            "RendererService",
            cluster=self.cluster,
            task_definition=self.task_definition,
            desired_count=config.workers_min,
            security_groups=[network.app_security_group],
            min_healthy_percent=0,
            max_healthy_percent=200,  # a deploy may stop workers: tasks are reclaimed
            vpc_subnets=network.private_subnets,
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(capacity_provider=provider.capacity_provider_name, weight=1)
            ],
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
        )
        broker.connect(self.container, role, self.service)
        # the first deployment must not create the service before the cluster knows its capacity provider
        self.service.node.add_dependency(self.cluster)
        self._scale_on_backlog(config)
        # every minute: publishes StreamBacklog (what scaling and the backlog alarm watch) and runs the render
        # queue keeper (heartbeats renders waiting for a worker, re-adds entries Redis lost, queue_timeout)
        self.backlog_function = functions.create(
            "BacklogMetric",
            "backlog_metric",
            service="framelane-backlog",
            timeout=Duration.seconds(55),
            broker_client=True,
        )
        broker.connect(self.backlog_function, self.backlog_function, self.backlog_function)
        self.backlog_function.add_environment(
            "FRAMELANE_RENDER_QUEUE_WAIT_SECONDS", str(config.render_queue_wait_seconds)
        )
        access.table(self.backlog_function, self.backlog_function, storage.table)  # render dispatch records
        orchestration.task_machine.grant_task_response(self.backlog_function)  # SendTaskHeartbeat / Failure
        self.backlog_schedule = events.Rule(
            self,
            "EveryMinute",
            schedule=events.Schedule.rate(Duration.seconds(KEEPER_INTERVAL_SECONDS)),
            targets=[targets.LambdaFunction(self.backlog_function)],
        )
        if config.sagemaker_endpoint:
            self._sagemaker_endpoint(config, network, storage, orchestration, broker)

    def _scale_on_backlog(self, config: StageConfig) -> None:
        """Target tracking on backlog per running worker (scale out only); scale in only when nothing has been
        waiting or in flight for 15 minutes (no render is cut off); a step policy wakes the service from zero,
        which target tracking cannot leave."""
        service_dimensions = {
            "ClusterName": self.cluster.cluster_name,
            "ServiceName": self.service.service_name,
        }
        workers = cloudwatch.Metric(
            namespace="ECS/ContainerInsights",
            metric_name="RunningTaskCount",
            dimensions_map=service_dimensions,
            statistic="Average",
            period=Duration.minutes(1),
        )
        target = appscaling.ScalableTarget(
            self,
            "RendererScaling",
            service_namespace=appscaling.ServiceNamespace.ECS,
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=f"service/{self.cluster.cluster_name}/{self.service.service_name}",
            min_capacity=config.workers_min,
            max_capacity=config.workers_max,
        )
        self.scaling_target = target
        # CDK's target tracking takes no metric math: the policy in CloudFormation's own terms
        query = appscaling.CfnScalingPolicy.TargetTrackingMetricDataQueryProperty
        appscaling.CfnScalingPolicy(
            self,
            "BacklogPerWorker",
            policy_name=f"{self.node.path.replace('/', '-')}-backlog-per-worker",
            policy_type="TargetTrackingScaling",
            scaling_target_id=target.scalable_target_id,
            target_tracking_scaling_policy_configuration=appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=float(config.backlog_per_worker),
                disable_scale_in=True,
                scale_out_cooldown=60,
                customized_metric_specification=appscaling.CfnScalingPolicy.CustomizedMetricSpecificationProperty(
                    metrics=[
                        _metric_query("backlog", "Maximum", BACKLOG_METRIC, {"service": "framelane-backlog"}),
                        _metric_query("workers", "Average", workers, service_dimensions),
                        query(
                            id="perworker",
                            expression="backlog / MAX([FILL(workers, 0), 1])",
                            label="renderer backlog per running worker",
                            return_data=True,
                        ),
                    ]
                ),
            ),
        )
        desired = cloudwatch.Metric(
            namespace="ECS/ContainerInsights",
            metric_name="DesiredTaskCount",
            dimensions_map=service_dimensions,
            statistic="Maximum",
            period=Duration.minutes(1),
        )
        # only while no worker is even asked for (desired 0): it must not undo target tracking during a start
        self._step(
            target,
            "WakeFromZero",
            cloudwatch.MathExpression(
                expression="IF(FILL(desired, 0) < 1, backlog, 0)",
                using_metrics={"backlog": BACKLOG_METRIC, "desired": desired},
                period=Duration.minutes(1),
            ),
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            threshold=1,
            exact=max(config.workers_min, 1),
        )
        # missing data (the metric Lambda failing) is not idleness: nothing is scaled in, and an alarm pages
        self._step(
            target,
            "ScaleInWhenIdle",
            BACKLOG_METRIC.with_(period=Duration.minutes(15)),
            cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
            threshold=0,
            exact=config.workers_min,
        )

    def _step(
        self,
        target: appscaling.ScalableTarget,
        name: str,
        metric: cloudwatch.Metric | cloudwatch.MathExpression,
        comparison: cloudwatch.ComparisonOperator,
        *,
        threshold: float,
        exact: int,
    ) -> None:
        """One alarm that sets the service to exactly `exact` workers."""
        action = appscaling.StepScalingAction(
            self,
            name,
            scaling_target=target,
            adjustment_type=appscaling.AdjustmentType.EXACT_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
            cooldown=Duration.minutes(1),
        )
        above = comparison is cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        if above:
            action.add_adjustment(adjustment=exact, lower_bound=0)
        else:
            action.add_adjustment(adjustment=exact, upper_bound=0)
        alarm = metric.create_alarm(
            self,
            f"{name}Alarm",
            alarm_description=f"renderer scaling: {name}",
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.ApplicationScalingAction(action))

    def _sign_outputs(self, config: StageConfig, target: access.Environment, role: iam.IGrantable) -> None:
        """Every worker kind signs its outputs: the marking switch and signer in its environment, with read access
        to (only) the operator's signing secret, or signing with (only) its KMS key; without either the workers
        sign with an untrusted development CA."""
        for key, value in config.content_credentials_environment.items():
            target.add_environment(key, value)
        if self.signing_secret is not None:
            self.signing_secret.grant_read(role)
        if self.signing_key is not None:
            self.signing_key.grant(role, "kms:Sign", "kms:GetPublicKey")

    def _sagemaker_endpoint(
        self,
        config: StageConfig,
        network: Network,
        storage: Storage,
        orchestration: Orchestration,
        broker: Broker,
    ) -> None:
        """The same image in serving mode, with what the ECS workers get: it renders the same stream entries."""
        role = iam.Role(self, "SageMakerRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        self.sagemaker_role = role
        self.image.repository.grant_pull(role)
        environment = access.EnvironmentDict(POWERTOOLS_SERVICE_NAME="framelane-sagemaker")
        access.table(environment, role, storage.table)
        access.bucket(
            environment,
            role,
            storage.bucket,
            read=("sources/", "uploads/", "outputs/", "segments/"),
            put=("outputs/", "segments/"),
            delete=("segments/",),
        )
        storage.bucket.grant_read_write(role, "sagemaker/*")  # asynchronous inference inputs and outputs
        orchestration.task_machine.grant_task_response(role)
        access.starts(environment, role, access.WEBHOOK_MACHINE, orchestration.webhook_machine)
        broker.connect(environment, role, None)  # the model's VPC config carries the broker client group
        self._sign_outputs(config, environment, role)
        # what SageMaker does with the role itself: ENIs in our subnets (VPC config), logs and metrics
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "ec2:CreateNetworkInterface",
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeDhcpOptions",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                ],
                resources=["*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=[
                    Stack.of(self).format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/sagemaker/*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "Framelane"]}},
            )
        )
        model = sagemaker.CfnModel(
            self,
            "RendererModel",
            execution_role_arn=role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=self.image.image_uri,
                environment=environment,
            ),
            vpc_config=sagemaker.CfnModel.VpcConfigProperty(
                security_group_ids=[network.app_security_group.security_group_id],
                subnets=network.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids,
            ),
        )
        endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "RendererEndpointConfig",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name="renderer",
                    model_name=model.attr_model_name,
                    initial_instance_count=1,
                    instance_type=config.sagemaker_instance_type,
                )
            ],
            async_inference_config=sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
                output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
                    s3_output_path=f"s3://{storage.bucket.bucket_name}/sagemaker/outputs/"
                ),
                client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
                    max_concurrent_invocations_per_instance=1
                ),
            ),
        )
        endpoint_name = config.sagemaker_endpoint_name
        endpoint = sagemaker.CfnEndpoint(
            self,
            "RendererEndpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=endpoint_config.attr_endpoint_config_name,
        )
        # the backlog Lambda is the dispatcher: while the streams hold work it queues drain invocations
        dispatcher = self.backlog_function
        dispatcher.add_environment("FRAMELANE_SAGEMAKER_ENDPOINT", endpoint_name)
        dispatcher.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:InvokeEndpointAsync"],
                resources=[
                    Stack.of(self).format_arn(
                        service="sagemaker",
                        resource="endpoint",
                        resource_name=endpoint_name,
                    )
                ],
            )
        )
        access.bucket(dispatcher, dispatcher, storage.bucket, put=("sagemaker/inputs/",))
        resource_id = f"endpoint/{endpoint.attr_endpoint_name}/variant/renderer"
        target = appscaling.ScalableTarget(
            self,
            "EndpointScaling",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=resource_id,
            min_capacity=0,
            max_capacity=config.workers_max,
        )
        target.node.add_dependency(endpoint)

        def endpoint_metric(name: str, **options: Any) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=name,
                dimensions_map={"EndpointName": endpoint.attr_endpoint_name},
                statistic="Average",
                **options,
            )

        target.scale_to_track_metric(
            "BacklogPerInstance",
            target_value=float(config.backlog_per_worker),
            custom_metric=endpoint_metric("ApproximateBacklogSizePerInstance"),
            scale_in_cooldown=Duration.minutes(10),
            scale_out_cooldown=Duration.minutes(2),
        )
        # target tracking cannot leave zero instances: a step policy wakes the endpoint when work waits
        target.scale_on_metric(
            "WakeFromZero",
            metric=endpoint_metric("HasBacklogWithoutCapacity", period=Duration.minutes(1)),
            scaling_steps=[
                appscaling.ScalingInterval(upper=0, change=0),
                appscaling.ScalingInterval(lower=0.5, change=1),
            ],
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        )
