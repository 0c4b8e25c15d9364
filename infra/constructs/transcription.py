"""Transcription configuration: the AssemblyAI API key lives in Secrets Manager (set by ops after deploy)."""

from __future__ import annotations

from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct


class Transcription(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.assemblyai_key = secretsmanager.Secret(
            self,
            "AssemblyAiKey",
            description="AssemblyAI API key for transcribe tasks: `aws secretsmanager put-secret-value`; "
            "left unset, transcription uses the offline engine.",
        )
