"""One settings object for every process (API, pollers, workers, CLI-launched local stack)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import AliasChoices, Field, field_validator
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
    redis_url: str | None = None
    redis_host: str | None = Field(default=None, description="On AWS: the ElastiCache endpoint (TLS, AUTH).")
    redis_port: int = 6379
    redis_auth_secret_arn: str | None = None
    cursor_secret_arn: str | None = None
    admin_token_secret_arn: str | None = None
    assemblyai_secret_arn: str | None = None
    assemblyai_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "FRAMELANE_ASSEMBLYAI_API_KEY", "ASSEMBLYAI_API_KEY", "assemblyai_api_key"
        ),
        description="Set: transcribe with AssemblyAI; unset: the offline engine.",
    )
    assemblyai_base_url: str = "https://api.assemblyai.com"
    callback_base_url: str | None = Field(
        default=None, description="Public URL of this API, for AssemblyAI's webhook (the callback route)."
    )
    transcription_callback_timeout_seconds: int = 900
    transcription_poll_interval_seconds: int = 30
    task_state_machine_arn: str | None = None
    cursor_secret: str = Field(
        default="local-cursor-secret-change-me",
        description="HMAC key that signs pagination cursors; set a random value in every deployment.",
    )
    outbound_policy: Literal["public", "allowlist"] = "public"
    allowed_networks: Annotated[tuple[str, ...], NoDecode] = ()
    denied_endpoints: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="`host:port` entries no task may reach whatever the networks allow (the local API's port); "
        "the AWS endpoint and the Redis URL are always denied.",
    )
    admin_token: str | None = Field(
        default=None,
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
    worker_max_attempts: int = 3
    render_heartbeat_seconds: int = Field(
        default=300,
        description="HeartbeatSeconds of the Render step; keep it several keeper intervals long.",
    )
    render_queue_wait_seconds: float = Field(
        default=3600,
        description="How long a render may wait for a worker (kept alive by the keeper) before `queue_timeout`.",
    )
    render_queue_keeper_interval: float = Field(
        default=60, description="Seconds between render queue keeper passes in the local stack's pollers."
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
    c2pa_cert_chain_pem: str | None = Field(default=None, description="The chain itself (from the secret).")
    c2pa_private_key_pem: str | None = Field(default=None, description="The key itself (from the secret).")
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


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment, with secrets named by ARN fetched from Secrets Manager (cached)."""
    settings = Settings()
    arns = (
        settings.redis_auth_secret_arn,
        settings.cursor_secret_arn,
        settings.admin_token_secret_arn,
        settings.assemblyai_secret_arn,
        settings.c2pa_signing_secret_arn,
    )
    if not any(arns):
        return settings
    from aws_lambda_powertools.utilities.parameters import get_secret

    updates: dict[str, object] = {}
    if settings.cursor_secret_arn:
        updates["cursor_secret"] = get_secret(settings.cursor_secret_arn)
    if settings.admin_token_secret_arn:
        updates["admin_token"] = get_secret(settings.admin_token_secret_arn)
    if settings.assemblyai_secret_arn:
        updates["assemblyai_api_key"] = get_secret(settings.assemblyai_secret_arn) or None
    if settings.c2pa_signing_secret_arn:
        secret = json.loads(str(get_secret(settings.c2pa_signing_secret_arn)))
        updates["c2pa_cert_chain_pem"] = secret["certificate_chain"]
        updates["c2pa_private_key_pem"] = secret.get("private_key")  # absent when a KMS key signs
    if settings.redis_host and settings.redis_auth_secret_arn and not settings.redis_url:
        token = quote(str(get_secret(settings.redis_auth_secret_arn)), safe="")
        updates["redis_url"] = f"rediss://:{token}@{settings.redis_host}:{settings.redis_port}/0"
    return settings.model_copy(update=updates)
