"""One settings object for every process (API, pollers, workers, CLI-launched local stack)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal, Self

from pydantic import AliasChoices, Field, SerializerFunctionWrapHandler, field_validator, model_serializer
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Read from `FRAMELANE_*` environment variables; defaults suit the local stack."""

    model_config = SettingsConfigDict(env_prefix="FRAMELANE_", extra="ignore", frozen=True)

    region: str = "us-east-1"
    aws_endpoint_url: str | None = Field(
        default=None, description="Where boto3 sends AWS calls; the moto server URL locally, unset on AWS."
    )
    table_name: str = "framelane"
    bucket: str = "framelane-media"
    redis_url_value: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FRAMELANE_REDIS_URL", "redis_url"),
        description="An explicit broker URL (local stack); on AWS it is built from the host and AUTH secret.",
    )
    redis_host: str | None = Field(default=None, description="On AWS: the ElastiCache endpoint (TLS, AUTH).")
    redis_port: int = 6379
    redis_auth_secret_arn: str | None = None
    cursor_secret_arn: str | None = None
    admin_token_secret_arn: str | None = None
    assemblyai_secret_arn: str | None = None
    assemblyai_api_key_value: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "FRAMELANE_ASSEMBLYAI_API_KEY", "ASSEMBLYAI_API_KEY", "assemblyai_api_key"
        ),
        description="Set (or its secret set): transcribe with AssemblyAI; unset: the offline engine.",
    )
    assemblyai_base_url: str = "https://api.assemblyai.com"
    callback_base_url: str | None = Field(
        default=None, description="Public URL of this API, for AssemblyAI's webhook (the callback route)."
    )
    transcription_callback_timeout_seconds: int = 900
    transcription_poll_interval_seconds: int = 30
    task_state_machine_arn: str | None = None
    cursor_secret_value: str = Field(
        default="local-cursor-secret-change-me",
        validation_alias=AliasChoices("FRAMELANE_CURSOR_SECRET", "cursor_secret"),
        description="HMAC key that signs pagination cursors; set a random value in every deployment.",
    )
    outbound_policy: Literal["public", "allowlist"] = "public"
    allowed_networks: Annotated[tuple[str, ...], NoDecode] = ()
    denied_endpoints: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="`host:port` entries no task may reach whatever the networks allow (the local API's port); "
        "the AWS endpoint and the Redis URL are always denied.",
    )
    admin_token_value: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FRAMELANE_ADMIN_TOKEN", "admin_token"),
        description="Bearer token for operator routes (workspace creation); unset disables them.",
    )
    idempotency_ttl_seconds: int = 24 * 3600
    idempotency_lock_seconds: int = 60
    upload_url_ttl_seconds: int = 3600
    output_url_ttl_seconds: int = 24 * 3600

    # pipeline
    queue_url_prefix: str | None = Field(
        default=None,
        description="SQS queue URL prefix; queue names are `{prefix}{step}` (ingest, dispatch, …).",
    )
    webhook_state_machine_arn: str | None = None
    max_source_bytes: int = 2 * 1024**3
    max_source_seconds: float = 3600
    fetch_connect_timeout: float = 5
    fetch_read_timeout: float = 30
    max_redirects: int = 5
    webhook_retry_schedule: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400),
        description="Seconds to wait before each webhook retry (Standard Webhooks schedule by default).",
    )
    webhook_timeout: float = 15
    progress_event_interval: float = 2.0
    stream_prefix: str = "framelane:tasks"
    worker_visibility_timeout: float = 60
    sagemaker_endpoint: str | None = Field(
        default=None,
        description="A SageMaker asynchronous endpoint that drains the streams (the backlog Lambda).",
    )
    sagemaker_drain_entries: int = Field(
        default=20, ge=1, description="Stream entries one invocation renders."
    )
    sagemaker_drain_seconds: float = Field(
        default=3000, gt=0, le=3300, description="One invocation's budget."
    )
    sagemaker_max_requests: int = Field(default=4, ge=1, description="Drain invocations queued per minute.")
    worker_max_attempts: int = 3
    render_heartbeat_seconds: int = Field(
        default=300,
        description="HeartbeatSeconds of the Render step; keep it several keeper intervals long.",
    )
    render_queue_wait_seconds: float = Field(
        default=3600,
        description="How long a render may wait for a worker (kept alive by the keeper) before `queue_timeout`.",
    )
    segment_threshold_seconds: float = Field(
        default=300,
        gt=0,
        description="Renderer sources longer than this are rendered in segments on several workers.",
    )
    segment_seconds: float = Field(default=60, gt=0, description="About how long each segment is.")
    segment_warmup_seconds: float = Field(
        default=2,
        ge=0,
        description="Frames decoded before a segment's start so trackers and smoothing settle.",
    )
    segment_max_concurrency: int = Field(
        default=4, ge=1, description="Segments of one task rendered at once (the Map's MaxConcurrency)."
    )
    render_queue_keeper_interval: float = Field(
        default=60, description="Seconds between render queue keeper passes in the local stack's pollers."
    )
    auth_cache_seconds: float = Field(
        default=5,
        ge=0,
        description="How long a process remembers which workspace an API key belongs to (0: never). A key revoked "
        "through another process keeps working at most this long there.",
    )

    # fairness between workspaces (docs/OPERATIONS.md "Limits"); each can be overridden per workspace
    rate_limit_create_per_minute: int = Field(
        default=600, ge=0, description="Task creations per workspace per minute (token refill); 0: no limit."
    )
    rate_limit_create_burst: int = Field(
        default=100, ge=1, description="Task creations a workspace may make at once (bucket capacity)."
    )
    rate_limit_requests_per_minute: int = Field(
        default=3000, ge=0, description="Other API requests per workspace per minute; 0: no limit."
    )
    rate_limit_requests_burst: int = Field(default=500, ge=1, description="Other requests at once.")
    workspace_concurrency: int = Field(
        default=8, ge=1, description="Renders (and transcriptions) of one workspace running at once."
    )

    # Content Credentials (C2PA) on every rendered output; see docs/OPERATIONS.md
    content_credentials: Literal["on", "off"] = Field(
        default="on",
        description="`off` stops marking outputs (an explicit operator decision with legal weight: EU AI Act "
        "Art. 50(2) then has to be met otherwise).",
    )
    c2pa_cert_chain_file: str | None = Field(
        default=None, description="PEM: the signing certificate first, then its issuing CA(s)."
    )
    c2pa_private_key_file: str | None = Field(default=None, description="PEM (PKCS#8) private key.")
    c2pa_cert_chain_pem: str | None = Field(default=None, description="The chain itself, instead of a file.")
    c2pa_private_key_pem: str | None = Field(default=None, description="The key itself, instead of a file.")
    c2pa_signing_secret_arn: str | None = Field(
        default=None,
        description='Secrets Manager secret `{"certificate_chain": PEM, "private_key": PEM}`.',
    )
    c2pa_kms_key_id: str | None = Field(
        default=None,
        description="Sign with this KMS asymmetric key (ECC_NIST_P256/P384/P521) through the SDK's callback "
        "signer: the key never leaves KMS. Needs the certificate chain of that key.",
    )
    c2pa_tsa_url: str | None = Field(default=None, description="RFC 3161 time-stamp authority (optional).")
    c2pa_trust_anchors_file: str | None = Field(
        default=None,
        description="PEM CA certificates the worker's validation trusts (e.g. the C2PA trust list): the "
        "credentials report then says Trusted instead of Valid with signingCredential.untrusted.",
    )
    c2pa_dev_credentials_dir: str | None = Field(
        default=None,
        description="Where the untrusted development CA and signer are created when no operator "
        "credentials are configured (default: $FRAMELANE_HOME/content-credentials).",
    )

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("allowed_networks", "denied_endpoints", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    # Secrets: an explicit value wins (local stack, tests); else the secret named by ARN is fetched on first
    # use, so a process needs (and is granted) only the secrets its code path reads, and none at import.
    @property
    def cursor_secret(self) -> str:
        if "cursor_secret_value" in self.model_fields_set or not self.cursor_secret_arn:
            return self.cursor_secret_value
        secret = _secret(self.cursor_secret_arn)
        if not secret:  # never fall back to the public local default on a deployment
            raise RuntimeError("the cursor secret is empty")
        return secret

    @property
    def admin_token(self) -> str | None:
        return self.admin_token_value or _secret(self.admin_token_secret_arn)

    @property
    def assemblyai_api_key(self) -> str | None:
        """None (the offline engine) when neither a key nor a non-empty secret is set."""
        return self.assemblyai_api_key_value or _secret(self.assemblyai_secret_arn)

    @property
    def c2pa_signing_secret(self) -> dict[str, str] | None:
        """The operator's `{"certificate_chain": PEM, "private_key": PEM}` (no key when KMS signs), if named."""
        value = _secret(self.c2pa_signing_secret_arn)
        return dict(json.loads(value)) if value else None

    @property
    def redis_url(self) -> str | None:
        """Where Redis listens: an explicit URL (with any password in it), else the ElastiCache endpoint, whose
        AUTH token brokers read per connection (`redis_auth_token`) so that it can rotate."""
        if self.redis_url_value or not self.redis_host:
            return self.redis_url_value
        return f"rediss://{self.redis_host}:{self.redis_port}/0"

    def redis_auth_token(self) -> str | None:
        """The current AUTH token of the ElastiCache endpoint (None with an explicit URL or no secret)."""
        if self.redis_url_value or not self.redis_host:
            return None
        return _secret(self.redis_auth_secret_arn)

    @model_serializer(mode="wrap")
    def _public_names(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Dumps use the public names (`redis_url`, …): a dump turned into FRAMELANE_* variables round-trips."""
        data: dict[str, Any] = handler(self)
        return {_PUBLIC.get(key, key): value for key, value in data.items()}

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Accept the public names of the secret-backed values (`cursor_secret`, …) in `update`."""
        renamed = {_BACKING.get(key, key): value for key, value in (update or {}).items()}
        return super().model_copy(update=renamed or None, deep=deep)


_BACKING = {
    name: f"{name}_value" for name in ("cursor_secret", "admin_token", "assemblyai_api_key", "redis_url")
}
_PUBLIC = {backing: name for name, backing in _BACKING.items()}


def _secret(arn: str | None) -> str | None:
    """The secret's value from Secrets Manager (cached 5 min, so rotations are picked up); None if unset/empty."""
    if not arn:
        return None
    from aws_lambda_powertools.utilities.parameters import get_secret

    return str(get_secret(arn, max_age=300)) or None


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment (cached). Nothing is fetched here: secrets load where they are used."""
    return Settings()
