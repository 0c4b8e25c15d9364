"""The wiring: which adapters a process talks to. Built once per process from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from framelane.adapters.aws import dynamodb_client, s3_client, sfn_client, sqs_client
from framelane.adapters.dynamodb import DynamoStore
from framelane.adapters.redis_limits import RedisRateLimiter
from framelane.adapters.redis_streams import RedisBroker, RotatingAuthToken
from framelane.adapters.s3 import S3Store
from framelane.adapters.sqs import SqsQueues
from framelane.adapters.stepfunctions import StepFunctions
from framelane.config import Settings
from framelane.security.outbound import OutboundPolicy
from framelane.services.ports import BlobStore, Store, Workflows


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    store: Store
    blobs: BlobStore
    outbound: OutboundPolicy
    sfn: Workflows
    queues: SqsQueues | None

    @cached_property
    def broker(self) -> RedisBroker | None:
        """Built on first use: on AWS its URL needs the Redis AUTH secret, which only broker users may read."""
        settings = self.settings
        url = settings.redis_url
        if url is None:
            return None
        return RedisBroker(
            url, settings.stream_prefix, settings.workspace_concurrency, credentials=self._redis_credentials
        )

    @cached_property
    def limiter(self) -> RedisRateLimiter | None:
        """The request rate limits' buckets, in the broker's Redis (no Redis: no limits)."""
        url = self.settings.redis_url
        if url is None:
            return None
        return RedisRateLimiter(url, self.settings.stream_prefix, credentials=self._redis_credentials)

    @property
    def _redis_credentials(self) -> RotatingAuthToken | None:
        settings = self.settings
        rotating = settings.redis_host is not None and settings.redis_auth_secret_arn is not None
        return RotatingAuthToken(settings.redis_auth_token) if rotating else None


def build_context(settings: Settings) -> ServiceContext:
    return ServiceContext(
        settings=settings,
        store=DynamoStore(dynamodb_client(settings), settings.table_name),
        blobs=S3Store(s3_client(settings), settings.bucket),
        outbound=OutboundPolicy.from_settings(settings),
        sfn=StepFunctions(
            sfn_client(settings), settings.task_state_machine_arn, settings.webhook_state_machine_arn
        ),
        queues=SqsQueues(sqs_client(settings), settings.queue_url_prefix)
        if settings.queue_url_prefix
        else None,
    )
