"""boto3 clients built from settings, so the same code talks to AWS or to the local moto server."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from framelane.config import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=50)


# SigV4 presigned URLs: SigV2 is refused by newer S3 regions, and its URLs carry the Content-Type in the query,
# which makes moto refuse the browser's CORS preflight of a presigned PUT (the console's uploads).
_S3_CONFIG = _CONFIG.merge(Config(signature_version="s3v4"))


def _client(service: str, settings: Settings, config: Config = _CONFIG) -> Any:
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=config,
    )


@lru_cache(maxsize=8)
def dynamodb_client(settings: Settings) -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb", settings)
    return client


@lru_cache(maxsize=8)
def s3_client(settings: Settings) -> S3Client:
    client: S3Client = _client("s3", settings, _S3_CONFIG)
    return client


@lru_cache(maxsize=8)
def sfn_client(settings: Settings) -> SFNClient:
    client: SFNClient = _client("stepfunctions", settings)
    return client


@lru_cache(maxsize=8)
def sqs_client(settings: Settings) -> SQSClient:
    client: SQSClient = _client("sqs", settings)
    return client


@lru_cache(maxsize=8)
def kms_client(settings: Settings) -> KMSClient:
    client: KMSClient = _client("kms", settings)
    return client


@lru_cache(maxsize=8)
def sagemaker_runtime_client(settings: Settings) -> Any:
    return _client("sagemaker-runtime", settings)
