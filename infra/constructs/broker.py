"""ElastiCache Redis (replication group) for the renderer streams: TLS in transit, encrypted at rest, AUTH
token from Secrets Manager, private subnets only, reachable from the app security group only."""

from __future__ import annotations

from aws_cdk import SecretValue
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.access import Environment
from infra.constructs.network import Network
from infra.constructs.secrets import generated_secret

REDIS_PORT = 6380  # not the default port (AwsSolutions-AEC5)


class Broker(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, network: Network) -> None:
        super().__init__(scope, construct_id)
        self.network = network
        self.limits_environment = config.limits_environment
        self.stream_prefix = f"framelane-{config.stage}:tasks"
        self.auth = generated_secret(self, "AuthToken", "Framelane Redis AUTH token")
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, description="Framelane Redis", allow_all_outbound=False
        )
        self.security_group.add_ingress_rule(
            network.app_security_group, ec2.Port.tcp(REDIS_PORT), "broker clients"
        )
        subnets = elasticache.CfnSubnetGroup(
            self,
            "Subnets",
            description="Framelane Redis private subnets",
            subnet_ids=network.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids,
        )
        self.replication_group = elasticache.CfnReplicationGroup(
            self,
            "Redis",
            replication_group_description="Framelane renderer broker",
            engine="redis",
            engine_version="7.1",
            cache_node_type=config.redis_node_type,
            num_node_groups=1,
            replicas_per_node_group=config.redis_replicas,
            automatic_failover_enabled=config.redis_replicas > 0,
            multi_az_enabled=config.redis_replicas > 0,
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            auth_token=SecretValue.secrets_manager(self.auth.secret_arn).unsafe_unwrap(),
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[self.security_group.security_group_id],
            port=REDIS_PORT,
            snapshot_retention_limit=1,
        )
        self.endpoint = self.replication_group.attr_primary_end_point_address

    def connect(
        self, target: Environment, grantee: iam.IGrantable, connectable: ec2.IConnectable | None
    ) -> None:
        """A broker client: the endpoint and stream names, the per-workspace limit defaults, the AUTH secret, and
        the security group Redis admits."""
        target.add_environment("FRAMELANE_REDIS_HOST", self.endpoint)
        target.add_environment("FRAMELANE_REDIS_PORT", str(REDIS_PORT))
        target.add_environment("FRAMELANE_REDIS_AUTH_SECRET_ARN", self.auth.secret_arn)
        target.add_environment("FRAMELANE_STREAM_PREFIX", self.stream_prefix)
        for name, value in self.limits_environment.items():
            target.add_environment(name, value)
        self.auth.grant_read(grantee)
        if connectable and self.network.app_security_group not in connectable.connections.security_groups:
            raise ValueError(f"{connectable} must carry the broker client security group to reach Redis")
