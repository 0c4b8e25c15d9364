"""Transcription configuration: the AssemblyAI API key, in a secret that ops create and name in the stage config
(`assemblyai_secret_name`). No name, no secret: transcription uses the offline engine (never a generated key)."""

from __future__ import annotations

from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import StageConfig


class Transcription(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.assemblyai_key: secretsmanager.ISecret | None = None
        if config.assemblyai_secret_name:
            self.assemblyai_key = secretsmanager.Secret.from_secret_name_v2(
                self, "AssemblyAiKey", config.assemblyai_secret_name
            )
