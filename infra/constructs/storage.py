"""DynamoDB single table (+3 GSIs, PITR, TTL) and the media bucket (encrypted, private, lifecycle by prefix)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from framelane.adapters.keys import TASK_INDEXES, TTL_ATTRIBUTE
from infra.config import StageConfig


def _private_bucket(scope: Construct, construct_id: str, **options: Any) -> s3.Bucket:
    """What both buckets are: encrypted, closed to the public, TLS only."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        **options,
    )


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="PK", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="SK", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            deletion_protection=config.retain_data,
            removal_policy=removal,
        )
        for index_name, (pk, sk) in TASK_INDEXES.items():
            self.table.add_global_secondary_index(
                index_name=index_name,
                partition_key=dynamodb.Attribute(name=pk, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=sk, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        self.access_logs = _private_bucket(
            self,
            "AccessLogs",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=removal,
            auto_delete_objects=not config.retain_data,
        )
        self.bucket = _private_bucket(
            self,
            "Media",
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="media/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="sources", prefix="sources/", expiration=Duration.days(config.source_retention_days)
                ),
                s3.LifecycleRule(
                    id="uploads", prefix="uploads/", expiration=Duration.days(config.upload_retention_days)
                ),
                s3.LifecycleRule(
                    id="outputs", prefix="outputs/", expiration=Duration.days(config.output_retention_days)
                ),
                # rendered segments are joined and deleted by Stitch; those of failed tasks expire here
                s3.LifecycleRule(id="segments", prefix="segments/", expiration=Duration.days(1)),
                s3.LifecycleRule(id="multipart", abort_incomplete_multipart_upload_after=Duration.days(1)),
            ],
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.PUT, s3.HttpMethods.GET],
                    allowed_origins=config.cors_allowed_origins,
                    allowed_headers=["content-type", "content-length", "x-amz-*"],
                    max_age=3000,
                )
            ]
            if config.cors_allowed_origins
            else None,
            removal_policy=removal,
            auto_delete_objects=not config.retain_data,
        )
