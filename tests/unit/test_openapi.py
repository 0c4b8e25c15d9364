"""The OpenAPI document says what the app does: error bodies, 400s, links, and a 405 that names every method.

In-process, no stores touched: the document is built from the routes, and a 405 is answered by routing.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from framelane.api.app import create_app
from framelane.config import Settings
from framelane.services.context import build_context


@pytest.fixture(scope="module")
def app() -> FastAPI:
    settings = Settings()
    return create_app(settings, build_context(settings))


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_document_lists_the_public_api_only(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for path in [
        "/v1/tasks/remove-background",
        "/v1/tasks/gaze-redirect",
        "/v1/tasks/super-resolution",
        "/v1/tasks/transcribe",
        "/v1/tasks",
        "/v1/tasks/{task_id}",
        "/v1/tasks/{task_id}/cancel",
        "/v1/tasks/{task_id}/transcript",
        "/v1/webhooks",
        "/v1/webhooks/{endpoint_id}",
        "/v1/webhooks/signing-secret",
        "/v1/uploads",
        "/healthz",
    ]:
        assert path in paths, path
    assert not any(path.startswith("/admin") for path in paths)
    gaze = document["components"]["schemas"]["GazeRedirectRequest"]["properties"]
    assert gaze["intensity"]["minimum"] == 0 and gaze["intensity"]["maximum"] == 1
    assert gaze["source_url"]["maxLength"] == 2083 and gaze["source_url"]["description"]
    assert gaze["metadata"]["propertyNames"] == {"minLength": 1, "maxLength": 40}


def test_every_422_is_the_error_body_the_app_sends(document: dict[str, Any]) -> None:
    """FastAPI documents its own `HTTPValidationError`, which this app never sends."""
    seen = 0
    for path, method, op in _operations(document):
        if "422" in op["responses"]:
            seen += 1
            schema = op["responses"]["422"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path)
    assert seen >= 10
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_400_is_documented_for_bodies_and_cursors(document: dict[str, Any]) -> None:
    for path, method, op in _operations(document):
        names = {p["name"] for p in op.get("parameters", [])}
        if "requestBody" in op:
            assert "not JSON" in op["responses"]["400"]["description"], (method, path)
        if "cursor" in names:
            assert "invalid_cursor" in op["responses"]["400"]["description"], (method, path)
    assert "400" not in document["paths"]["/v1/tasks/{task_id}"]["get"]["responses"]


def test_created_resources_link_to_the_operations_on_them(document: dict[str, Any]) -> None:
    paths = document["paths"]
    links = paths["/v1/tasks/gaze-redirect"]["post"]["responses"]["202"]["links"]
    for path, method in [
        ("/v1/tasks/{task_id}", "get"),
        ("/v1/tasks/{task_id}/cancel", "post"),
        ("/v1/tasks/{task_id}/transcript", "get"),
    ]:
        operation_id = paths[path][method]["operationId"]
        assert links[operation_id]["parameters"] == {"task_id": "$response.body#/id"}
    assert "links" in paths["/v1/tasks/transcribe"]["post"]["responses"]["200"]  # the idempotent replay too
    webhook_links = paths["/v1/webhooks"]["post"]["responses"]["201"]["links"]
    assert paths["/v1/webhooks/{endpoint_id}"]["delete"]["operationId"] in webhook_links
    assert "links" not in paths["/v1/uploads"]["post"]["responses"]["201"]  # an upload has no id to follow


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/webhooks", "GET, POST"),
        ("DELETE", "/v1/tasks/task_123", "GET"),
        ("GET", "/v1/tasks/task_123/cancel", "POST"),
        ("GET", "/v1/tasks/gaze-redirect", "POST"),  # not a task id: only the create route is there
        ("DELETE", "/v1/webhooks/signing-secret", "GET"),
    ],
)
def test_405_names_every_method_of_the_path(app: FastAPI, method: str, path: str, allowed: str) -> None:
    """Found by the OpenAPI fuzz run: `/v1/webhooks` answered `Allow: POST` though GET exists too."""
    response = TestClient(app).request(method, path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert response.json()["error"]["code"] == "method_not_allowed"
