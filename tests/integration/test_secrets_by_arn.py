"""Secrets named by ARN are read from Secrets Manager (moto_server over HTTP, as boto3 reaches AWS): the admin
token guards the operator routes and the cursor secret signs page cursors, with no value in the environment."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import httpx
import pytest
from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

from framelane.api.app import create_app
from framelane.config import Settings
from framelane.services.context import build_context

from .conftest import Stack, serve_app

SOURCE = "https://cdn.example.com/a.mp4"


@pytest.fixture
def secrets_manager(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.client]:
    # boto3 reads the service's endpoint from the environment; a provider made before this test would keep
    # its own client, so each test starts from none
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", stack.moto.url)
    monkeypatch.delitem(DEFAULT_PROVIDERS, "secrets", raising=False)
    yield boto3.client("secretsmanager", endpoint_url=stack.moto.url, region_name="us-east-1")
    DEFAULT_PROVIDERS.pop("secrets", None)  # its client points at this moto


def test_the_admin_token_and_cursor_secret_come_from_their_arns(
    stack: Stack,
    api_url: str,
    secrets_manager,  # type: ignore[no-untyped-def]
) -> None:
    admin = secrets_manager.create_secret(Name="framelane/test/admin", SecretString="admin-from-arn")["ARN"]
    cursor = secrets_manager.create_secret(Name="framelane/test/cursor", SecretString="cursor-from-arn")[
        "ARN"
    ]
    fields = {
        name: value
        for name, value in stack.settings.model_dump().items()
        if name not in {"admin_token", "cursor_secret"} and value is not None
    }
    settings = Settings(**{**fields, "admin_token_secret_arn": admin, "cursor_secret_arn": cursor})
    assert settings.admin_token == "admin-from-arn"
    with (
        serve_app(create_app(settings, build_context(settings))) as url,
        httpx.Client(base_url=url) as client,
    ):
        guessed = {"Authorization": f"Bearer {stack.settings.admin_token}"}  # the session's, not the ARN's
        assert client.post("/admin/workspaces", json={"name": "arn"}, headers=guessed).status_code == 401
        operator = {"Authorization": "Bearer admin-from-arn"}
        created = client.post("/admin/workspaces", json={"name": "arn"}, headers=operator)
        assert created.status_code == 201, created.text
        caller = {"Authorization": f"Bearer {created.json()['api_key']}"}
        for _ in range(3):
            started = client.post("/v1/tasks/transcribe", json={"source_url": SOURCE}, headers=caller)
            assert started.status_code == 202, started.text
        page = client.get("/v1/tasks", params={"limit": 2}, headers=caller).json()
        more = {"limit": 2, "cursor": page["next_cursor"]}
        assert len(client.get("/v1/tasks", params=more, headers=caller).json()["data"]) == 1
    # the session's API signs cursors with its own secret: it refuses this one, so the ARN's secret signed it
    refused = httpx.get(f"{api_url}/v1/tasks", params=more, headers=caller)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_cursor"
