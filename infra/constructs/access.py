"""Give a function or task one resource: its name in the environment and the grant, always together, so every
environment names only what its code uses and everything named is granted (tests/infra/test_access.py)."""

from __future__ import annotations

from typing import Protocol

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn

TABLE = "FRAMELANE_TABLE_NAME"
BUCKET = "FRAMELANE_BUCKET"
TASK_MACHINE = "FRAMELANE_TASK_STATE_MACHINE_ARN"
WEBHOOK_MACHINE = "FRAMELANE_WEBHOOK_STATE_MACHINE_ARN"


class Environment(Protocol):
    """A Lambda function or an ECS container definition."""

    def add_environment(self, key: str, value: str, /) -> object: ...


class EnvironmentDict(dict[str, str]):
    """An environment given as a plain mapping (a SageMaker model's container)."""

    def add_environment(self, key: str, value: str, /) -> None:
        self[key] = value


def table(target: Environment, grantee: iam.IGrantable, table: dynamodb.ITable) -> None:
    target.add_environment(TABLE, table.table_name)
    table.grant_read_write_data(grantee)


def bucket(
    target: Environment,
    grantee: iam.IGrantable,
    bucket: s3.IBucket,
    *,
    read: tuple[str, ...] = (),
    put: tuple[str, ...] = (),
    delete: tuple[str, ...] = (),
) -> None:
    """The bucket, readable and writable under the given key prefixes only (`uploads/`, `sources/`, …)."""
    target.add_environment(BUCKET, bucket.bucket_name)
    for prefix in read:
        bucket.grant_read(grantee, f"{prefix}*")
    for prefix in put:
        bucket.grant_put(grantee, f"{prefix}*")
    for prefix in delete:
        bucket.grant_delete(grantee, f"{prefix}*")


def secret(target: Environment, grantee: iam.IGrantable, name: str, value: secretsmanager.ISecret) -> None:
    target.add_environment(name, value.secret_arn)
    value.grant_read(grantee)


def starts(target: Environment, grantee: iam.IGrantable, name: str, machine: sfn.IStateMachine) -> None:
    target.add_environment(name, machine.state_machine_arn)
    machine.grant_start_execution(grantee)
