"""One settings object for every process (API, pollers, workers, CLI-launched local stack)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator
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
    task_state_machine_arn: str | None = None
    cursor_secret: str = Field(
        default="local-cursor-secret-change-me",
        description="HMAC key that signs pagination cursors; set a random value in every deployment.",
    )
    outbound_policy: Literal["public", "allowlist"] = "public"
    allowed_networks: Annotated[tuple[str, ...], NoDecode] = ()
    admin_token: str | None = Field(
        default=None,
        description="Bearer token for operator routes (workspace creation); unset disables them.",
    )
    idempotency_ttl_seconds: int = 24 * 3600
    idempotency_lock_seconds: int = 60
    upload_url_ttl_seconds: int = 3600
    output_url_ttl_seconds: int = 24 * 3600

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
