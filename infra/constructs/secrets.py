"""Secrets that CloudFormation generates (never in code or the template): the cursor key, the operator token, the
Redis AUTH token."""

from __future__ import annotations

from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct


def generated_secret(
    scope: Construct, construct_id: str, description: str, length: int = 64
) -> secretsmanager.Secret:
    """Letters and digits only, so the value needs no escaping in a URL, a header or a Redis AUTH command."""
    return secretsmanager.Secret(
        scope,
        construct_id,
        description=description,
        generate_secret_string=secretsmanager.SecretStringGenerator(
            exclude_punctuation=True, password_length=length
        ),
    )
