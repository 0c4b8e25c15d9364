"""functions/api/handler.py fed real API Gateway v1 (REST) and v2 (HTTP API) events, backed by moto_server."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from framelane.config import get_settings
from framelane.models import WorkspaceCreated

from .conftest import Stack

HANDLER = Path(__file__).resolve().parents[2] / "functions" / "api" / "handler.py"
LAMBDA_CONTEXT = SimpleNamespace(
    function_name="framelane-api",
    function_version="$LATEST",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:framelane-api",
    aws_request_id="req-1",
)


@pytest.fixture
def handler_module(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("FRAMELANE_AWS_ENDPOINT_URL", stack.moto.url)
    get_settings.cache_clear()
    spec = importlib.util.spec_from_file_location("framelane_api_handler", HANDLER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    get_settings.cache_clear()
    return module


def v2_event(
    method: str, path: str, key: str, body: dict[str, Any] | None = None, query: str = ""
) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "authorization": f"Bearer {key}",
            "content-type": "application/json",
            "host": "api.example",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "test",
            },
            "requestId": "v2-request",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 0,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def v1_event(method: str, path: str, key: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Host": "api.example"}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/prod{path}",
            "requestId": "v1-request",
            "stage": "prod",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "test"},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def test_v1_and_v2_events_round_trip(handler_module: ModuleType, workspace: WorkspaceCreated) -> None:
    key = workspace.api_key
    body = {"source_url": "https://cdn.example.com/presenter.mp4", "intensity": 0.8}
    created = handler_module.handler(v1_event("POST", "/v1/tasks/gaze-redirect", key, body), LAMBDA_CONTEXT)
    assert created["statusCode"] == 202, created
    task = json.loads(created["body"])
    assert task["options"] == {"intensity": 0.8}

    fetched = handler_module.handler(v2_event("GET", f"/v1/tasks/{task['id']}", key), LAMBDA_CONTEXT)
    assert fetched["statusCode"] == 200 and json.loads(fetched["body"]) == task

    listed = handler_module.handler(v2_event("GET", "/v1/tasks", key, query="limit=5"), LAMBDA_CONTEXT)
    assert [t["id"] for t in json.loads(listed["body"])["data"]] == [task["id"]]


def test_errors_keep_their_shape_through_lambda(handler_module: ModuleType) -> None:
    unauthorized = handler_module.handler(v2_event("GET", "/v1/tasks", "fl_wrong"), LAMBDA_CONTEXT)
    assert unauthorized["statusCode"] == 401
    assert json.loads(unauthorized["body"])["error"]["code"] == "unauthorized"
    assert unauthorized["headers"]["www-authenticate"] == "Bearer"
    health = handler_module.handler(v1_event("GET", "/healthz", ""), LAMBDA_CONTEXT)
    assert health["statusCode"] == 200
    report = json.loads(health["body"])  # the stores were really probed through the Lambda's context
    assert report["status"] == "ok" and {"dynamodb": "ok", "s3": "ok"}.items() <= report["checks"].items()
