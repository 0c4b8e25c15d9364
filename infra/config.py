"""Deployment settings from CDK context (`cdk.json` or `-c key=value`): one typed object per stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from framelane.pipeline.asl import TaskMachineConfig

# the backlog Lambda's schedule: it publishes the backlog and runs the render queue keeper, which heartbeats the
# renders still waiting for a worker (so the Render step's heartbeat must last several of these)
KEEPER_INTERVAL_SECONDS = 60


class StageConfig(BaseModel):
    stage: str = Field(default="dev", pattern=r"^[a-z][a-z0-9-]{1,15}$")
    gpu_instance_type: str = "g5.xlarge"
    gpu_count: int = Field(default=1, ge=1, le=8)
    workers_min: int = Field(default=0, ge=0)
    workers_max: int = Field(default=4, ge=1)
    backlog_per_worker: int = Field(default=2, ge=1, description="Target stream entries per worker.")
    render_queue_wait_seconds: int = Field(
        default=3600, ge=60, description="How long a render may wait for a worker before `queue_timeout`."
    )
    segment_threshold_seconds: int = Field(
        default=300, ge=1, description="Renderer sources longer than this render in segments."
    )
    segment_seconds: int = Field(default=60, ge=1, description="About how long each segment is.")
    segment_max_concurrency: int = Field(
        default=4, ge=1, le=40, description="Segments of one task rendered at once: its share of the workers."
    )
    nat_gateways: int | None = Field(
        default=None, ge=1, le=2, description="Unset: one per AZ (2) on prod, one elsewhere."
    )
    interface_endpoints: bool | None = Field(
        default=None,
        description="VPC interface endpoints for the AWS APIs private subnets call; unset: prod only.",
    )
    cors_allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to PUT uploads / GET outputs from a browser; empty: no CORS rule at all.",
    )
    max_source_gib: int = Field(
        default=2, ge=1, le=9, description="Largest source ingest accepts; sizes the Lambdas' /tmp to match."
    )
    redis_node_type: str = "cache.t4g.small"
    redis_replicas: int = Field(default=1, ge=0, le=5)
    log_retention_days: int = 30
    source_retention_days: int = 7
    output_retention_days: int = 30
    upload_retention_days: int = 7
    sagemaker_endpoint: bool = False
    sagemaker_instance_type: str = "ml.g5.xlarge"
    alarm_email: str | None = None
    assemblyai_secret_name: str | None = Field(
        default=None,
        description="A Secrets Manager secret holding the AssemblyAI key; unset: offline engine.",
    )
    api_throttle_rate: int = 50
    api_throttle_burst: int = 100
    rate_limit_create_per_minute: int = Field(default=600, ge=0, description="Per workspace; 0: no limit.")
    rate_limit_create_burst: int = Field(default=100, ge=1)
    rate_limit_requests_per_minute: int = Field(default=3000, ge=0, description="Per workspace; 0: no limit.")
    rate_limit_requests_burst: int = Field(default=500, ge=1)
    workspace_concurrency: int = Field(
        default=8,
        ge=1,
        description="Renders/transcriptions of one workspace running at once (default quota).",
    )
    content_credentials: Literal["on", "off"] = Field(
        default="on",
        description="`off` stops C2PA marking of outputs (see docs/OPERATIONS.md: legal meaning).",
    )
    c2pa_signing_secret_arn: str | None = Field(
        default=None,
        description='Secrets Manager secret {"certificate_chain": PEM, "private_key": PEM} (key optional with KMS).',
    )
    c2pa_kms_key_arn: str | None = Field(
        default=None,
        description="KMS asymmetric signing key: C2PA claims are signed in KMS (callback signer).",
    )

    @property
    def limits_environment(self) -> dict[str, str]:
        """The per-workspace defaults every broker client needs: the API (rate limits), the dispatch step and
        the keeper (quota kept with each entry) and the workers (whose take script applies the default quota)."""
        names = [
            "rate_limit_create_per_minute",
            "rate_limit_create_burst",
            "rate_limit_requests_per_minute",
            "rate_limit_requests_burst",
            "workspace_concurrency",
        ]
        return {f"FRAMELANE_{name.upper()}": str(getattr(self, name)) for name in names}

    @property
    def content_credentials_environment(self) -> dict[str, str]:
        """Worker settings for Content Credentials; without a secret the workers sign with an untrusted dev CA."""
        environment: dict[str, str] = {"FRAMELANE_CONTENT_CREDENTIALS": self.content_credentials}
        if self.c2pa_signing_secret_arn:
            environment["FRAMELANE_C2PA_SIGNING_SECRET_ARN"] = self.c2pa_signing_secret_arn
        if self.c2pa_kms_key_arn:
            environment["FRAMELANE_C2PA_KMS_KEY_ID"] = self.c2pa_kms_key_arn
        return environment

    @property
    def sagemaker_endpoint_name(self) -> str:
        """Lowercase: SageMaker ARNs carry it so (scripts/sagemaker_smoke.py derives the same from the stage)."""
        return f"framelane-{self.stage}-renderer"

    @property
    def transcribe_on_workers(self) -> bool:
        """No AssemblyAI key: the offline engine, which needs the model stack, runs on the GPU workers."""
        return not self.assemblyai_secret_name

    def task_machine(self, queue_urls: Mapping[str, str]) -> TaskMachineConfig:
        """The task state machine of this stage: what the CDK deploys and what the local-stack test of AWS's
        timing (tests/integration/test_aws_state_machine.py) runs on moto, from the same values."""
        return TaskMachineConfig(
            ingest_queue_url=queue_urls["ingest"],
            dispatch_queue_url=queue_urls["dispatch"],
            finalize_queue_url=queue_urls["finalize"],
            notify_queue_url=queue_urls["notify"],
            transcribe_queue_url=None if self.transcribe_on_workers else queue_urls["transcribe"],
            transcribe_on_workers=self.transcribe_on_workers,
            segment_max_concurrency=self.segment_max_concurrency,
        )

    @property
    def retain_data(self) -> bool:
        return self.stage == "prod"

    @property
    def nat_count(self) -> int:
        return self.nat_gateways or (2 if self.stage == "prod" else 1)

    @property
    def private_endpoints(self) -> bool:
        return self.stage == "prod" if self.interface_endpoints is None else self.interface_endpoints

    @classmethod
    def from_context(cls, context: dict[str, Any]) -> StageConfig:
        return cls.model_validate({k: v for k, v in context.items() if k in cls.model_fields})
