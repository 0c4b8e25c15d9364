"""/v1/webhooks, /v1/uploads and /healthz against moto_server."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from framelane.api.app import create_app
from framelane.config import Settings
from framelane.local.processes import free_port
from framelane.services.context import build_context

from .conftest import Stack


def test_webhook_endpoint_lifecycle(api: httpx.Client, other_api: httpx.Client) -> None:
    created = api.post(
        "/v1/webhooks", json={"url": "https://app.example.com/hooks", "events": ["task.completed"]}
    )
    assert created.status_code == 201
    endpoint = created.json()
    assert endpoint["id"].startswith("wh_") and endpoint["secret"].startswith("whsec_")
    assert endpoint["events"] == ["task.completed"]

    listed = api.get("/v1/webhooks").json()["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0]  # shown once
    assert other_api.get("/v1/webhooks").json()["data"] == []
    assert other_api.delete(f"/v1/webhooks/{endpoint['id']}").status_code == 404

    deleted = api.delete(f"/v1/webhooks/{endpoint['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"id": endpoint["id"], "deleted": True}
    again = api.delete(f"/v1/webhooks/{endpoint['id']}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"


def test_webhook_endpoint_validation(api: httpx.Client) -> None:
    for body in [
        {"url": "ftp://x.example/h"},
        {"url": "https://x.example/h", "events": ["task.started"]},
        {"url": "https://x.example/h", "events": []},
        {"url": "http://169.254.169.254/"},
        {},
    ]:
        response = api.post("/v1/webhooks", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"


def test_a_workspace_holds_at_most_20_endpoints(api: httpx.Client, other_api: httpx.Client) -> None:
    ids = []
    for n in range(20):
        created = api.post("/v1/webhooks", json={"url": f"https://app.example.com/hooks/{n}"})
        assert created.status_code == 201, (n, created.text)
        ids.append(created.json()["id"])
    refused = api.post("/v1/webhooks", json={"url": "https://app.example.com/hooks/20"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_error"
    assert "at most 20 webhook endpoints" in refused.json()["error"]["message"]
    assert len(api.get("/v1/webhooks").json()["data"]) == 20
    assert other_api.post("/v1/webhooks", json={"url": "https://app.example.com/h"}).status_code == 201
    assert api.delete(f"/v1/webhooks/{ids[0]}").status_code == 200  # a freed place can be used again
    assert api.post("/v1/webhooks", json={"url": "https://app.example.com/hooks/20"}).status_code == 201


def test_default_events_and_signing_secret(api: httpx.Client, other_api: httpx.Client) -> None:
    endpoint = api.post("/v1/webhooks", json={"url": "https://x.example/h"}).json()
    assert endpoint["events"] == ["task.completed", "task.failed"]
    secret = api.get("/v1/webhooks/signing-secret").json()["secret"]
    assert secret.startswith("whsec_")
    assert api.get("/v1/webhooks/signing-secret").json()["secret"] == secret
    assert other_api.get("/v1/webhooks/signing-secret").json()["secret"] != secret


def test_presigned_upload_really_uploads(stack: Stack, api: httpx.Client) -> None:
    upload = api.post("/v1/uploads", json={"content_type": "video/mp4"})
    assert upload.status_code == 201
    body = upload.json()
    assert body["upload_url"].startswith(stack.moto.url)  # loopback only
    assert body["expires_at"].endswith("Z")
    put = httpx.put(body["upload_url"], content=b"media bytes", headers={"Content-Type": "video/mp4"})
    assert put.status_code == 200, put.text
    key = body["source_url"].removeprefix(f"s3://{stack.settings.bucket}/")
    assert key.startswith("uploads/ws_")
    obj = httpx.get(stack.ctx.blobs.presigned_get(key, expires_in=60))
    assert obj.content == b"media bytes"
    assert api.post("/v1/uploads").status_code == 201  # body is optional
    assert api.post("/v1/uploads", json={"content_type": "not a type"}).status_code == 422


def test_healthz_ok(api_url: str) -> None:
    response = httpx.get(f"{api_url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"dynamodb": "ok", "s3": "ok", "redis": "ok"}}


def test_healthz_reports_unreachable_stores(stack: Stack) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = Settings(aws_endpoint_url=dead, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(settings, build_context(settings))) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert all(value.startswith("error") for value in body["checks"].values())


def test_api_key_rotation(api_url: str, workspace) -> None:  # type: ignore[no-untyped-def]
    from .conftest import ADMIN_TOKEN

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert httpx.post(f"{api_url}/admin/workspaces/{workspace.workspace_id}/api-keys").status_code == 401
    issued = httpx.post(f"{api_url}/admin/workspaces/{workspace.workspace_id}/api-keys", headers=admin)
    assert issued.status_code == 201
    new_key = issued.json()["api_key"]
    assert new_key != workspace.api_key and issued.json()["workspace_id"] == workspace.workspace_id
    for key in (workspace.api_key, new_key):  # both work during the switch-over
        assert httpx.get(f"{api_url}/v1/tasks", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    revoked = httpx.post(
        f"{api_url}/admin/api-keys/revoke", json={"api_key": workspace.api_key}, headers=admin
    )
    assert revoked.status_code == 200
    assert (
        httpx.get(f"{api_url}/v1/tasks", headers={"Authorization": f"Bearer {workspace.api_key}"}).status_code
        == 401
    )
    assert httpx.get(f"{api_url}/v1/tasks", headers={"Authorization": f"Bearer {new_key}"}).status_code == 200
    again = httpx.post(f"{api_url}/admin/api-keys/revoke", json={"api_key": workspace.api_key}, headers=admin)
    assert again.status_code == 404
    unknown = httpx.post(f"{api_url}/admin/workspaces/ws_nope/api-keys", headers=admin)
    assert unknown.status_code == 404


def test_upload_with_invalid_task_options_is_422(api: httpx.Client) -> None:
    for body in (
        {"task_type": "gaze_redirect", "options": {"intensity": 3}},
        {"task_type": "gaze_redirect", "options": {"unknown": 1}},
        {"task_type": "render", "options": {}},
    ):
        response = api.post("/v1/uploads", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"


def test_upload_triggered_task_metadata_names_must_fit_s3(api: httpx.Client) -> None:
    """Found by the OpenAPI fuzz run: a non-ASCII metadata name made the presigned URL fail with a 500."""
    for name in ("\u00edJ", "Project", "with space"):
        response = api.post("/v1/uploads", json={"task_type": "transcribe", "metadata": {name: "x"}})
        assert response.status_code == 422, name
        assert response.json()["error"]["code"] == "validation_error"
    ok = api.post(
        "/v1/uploads", json={"task_type": "transcribe", "metadata": {"project_id": "x", "v.2-a": 1}}
    )
    assert ok.status_code == 201
