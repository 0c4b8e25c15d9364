"""GPU renderer workers: an ECS service on GPU instances (ECS GPU AMI), scaled on the Redis stream backlog that a
scheduled Lambda publishes as a CloudWatch metric; optionally a SageMaker asynchronous endpoint (scale to zero)
running the same image."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.config import StageConfig
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
IMAGE_EXCLUDES = [
    ".venv",
    ".git",
    "cdk.out",
    "build",
    "node_modules",
    "tests",
    "bench",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "**/__pycache__",
]


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
            machine_image=ecs.EcsOptimizedImage.amazon_linux2(ecs.AmiHardwareType.GPU),
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
            self.container, role, storage.bucket, read=("sources/", "uploads/", "outputs/"), put=("outputs/",)
        )
        orchestration.task_machine.grant_task_response(role)
        # task.progress events start webhook deliveries
        access.starts(self.container, role, access.WEBHOOK_MACHINE, orchestration.webhook_machine)
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
        scaling = self.service.auto_scale_task_count(
            min_capacity=config.workers_min, max_capacity=config.workers_max
        )
        scaling.scale_on_metric(
            "ScaleOnBacklog",
            metric=BACKLOG_METRIC,
            scaling_steps=[
                appscaling.ScalingInterval(upper=0, change=-1),
                appscaling.ScalingInterval(lower=1, change=+1),
                appscaling.ScalingInterval(lower=config.backlog_per_worker * 4, change=+3),
            ],
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            cooldown=Duration.minutes(2),
        )
        # publishes StreamBacklog every minute (what scaling and the backlog alarm watch)
        self.backlog_function = functions.create(
            "BacklogMetric",
            "backlog_metric",
            service="framelane-backlog",
            timeout=Duration.seconds(30),
            broker_client=True,
        )
        broker.connect(self.backlog_function, self.backlog_function, self.backlog_function)
        events.Rule(
            self,
            "EveryMinute",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[targets.LambdaFunction(self.backlog_function)],
        )
        if config.sagemaker_endpoint:
            self._sagemaker_endpoint(config, network, storage, orchestration, broker)

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
            environment, role, storage.bucket, read=("sources/", "uploads/", "outputs/"), put=("outputs/",)
        )
        storage.bucket.grant_read_write(role, "sagemaker/*")  # asynchronous inference inputs and outputs
        orchestration.task_machine.grant_task_response(role)
        access.starts(environment, role, access.WEBHOOK_MACHINE, orchestration.webhook_machine)
        broker.connect(environment, role, None)  # the model's VPC config carries the broker client group
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
        endpoint = sagemaker.CfnEndpoint(
            self, "RendererEndpoint", endpoint_config_name=endpoint_config.attr_endpoint_config_name
        )
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
        target.scale_to_track_metric(
            "BacklogPerInstance",
            target_value=float(config.backlog_per_worker),
            custom_metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name="ApproximateBacklogSizePerInstance",
                dimensions_map={"EndpointName": endpoint.attr_endpoint_name},
                statistic="Average",
            ),
            scale_in_cooldown=Duration.minutes(10),
            scale_out_cooldown=Duration.minutes(2),
        )
        # target tracking cannot leave zero instances: a step policy wakes the endpoint when work waits
        target.scale_on_metric(
            "WakeFromZero",
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name="HasBacklogWithoutCapacity",
                dimensions_map={"EndpointName": endpoint.attr_endpoint_name},
                statistic="Average",
                period=Duration.minutes(1),
            ),
            scaling_steps=[
                appscaling.ScalingInterval(upper=0, change=0),
                appscaling.ScalingInterval(lower=0.5, change=1),
            ],
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        )
