"""Every /v1/tasks route over real HTTP against moto_server: status codes, bodies, isolation, pagination."""

from __future__ import annotations

import httpx
import pytest

from framelane.models import JobOut

SOURCE = "https://cdn.example.com/presenter.mp4"
ROUTES = {
    "remove_background": "/v1/tasks/remove-background",
    "gaze_redirect": "/v1/tasks/gaze-redirect",
    "super_resolution": "/v1/tasks/super-resolution",
    "transcribe": "/v1/tasks/transcribe",
}


def create(api: httpx.Client, task_type: str = "gaze_redirect", **body: object) -> dict[str, object]:
    response = api.post(ROUTES[task_type], json={"source_url": SOURCE, **body})
    assert response.status_code == 202, response.text
    return dict(response.json())


@pytest.mark.parametrize(
    "task_type,options",
    [
        ("remove_background", {"output_format": "webm"}),
        ("gaze_redirect", {"intensity": 1}),
        ("super_resolution", {"scale": 2, "mode": "auto"}),
        ("transcribe", {"language_code": None, "speaker_labels": False, "analysis": []}),
    ],
)
def test_create_each_type_returns_202_task(
    api: httpx.Client, task_type: str, options: dict[str, object]
) -> None:
    task = create(api, task_type, metadata={"project_id": "proj_123", "n": 3})
    JobOut.model_validate(task)
    assert str(task["id"]).startswith("task_") and str(task["workspace_id"]).startswith("ws_")
    assert task["kind"] == "task" and task["task_type"] == task_type
    assert task["status"] == "ingesting"  # an external source is ingested first
    assert task["progress_percent"] == 0 and task["progress_stage"] is None
    assert task["output"] is None and task["error"] is None and task["completed_at"] is None
    assert task["metadata"] == {"project_id": "proj_123", "n": 3}
    assert task["options"] == options
    assert str(task["created_at"]).endswith("Z")
    assert api.get(f"/v1/tasks/{task['id']}").json() == task


def test_upload_source_is_queued(api: httpx.Client) -> None:
    upload = api.post("/v1/uploads", json={}).json()
    response = api.post(ROUTES["super_resolution"], json={"source_url": upload["source_url"], "scale": 3.5})
    assert response.status_code == 202
    assert response.json()["status"] == "queued"


def test_s3_source_outside_own_upload_area_is_422(api: httpx.Client, other_api: httpx.Client) -> None:
    foreign = other_api.post("/v1/uploads", json={}).json()["source_url"]
    for source in [foreign, "s3://framelane-media/sources/x.mp4", "s3://someone-elses-bucket/uploads/x.mp4"]:
        response = api.post(ROUTES["gaze_redirect"], json={"source_url": source})
        assert response.status_code == 422, source
        assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://10.0.0.1/a.mp4",
        "http://[::1]/a.mp4",
        "http://127.0.0.2/a.mp4",
        "http://0x7f000002/",
    ],
)
def test_blocked_ip_literals_are_refused_at_create(api: httpx.Client, url: str) -> None:
    for body in ({"source_url": url}, {"source_url": SOURCE, "webhook_url": url}):
        response = api.post(ROUTES["gaze_redirect"], json=body)
        assert response.status_code == 422
        assert "not allowed" in response.json()["error"]["message"]


def test_allowlisted_loopback_is_accepted(api: httpx.Client) -> None:
    assert (
        api.post(ROUTES["gaze_redirect"], json={"source_url": "http://127.0.0.1:9/a.mp4"}).status_code == 202
    )


def test_validation_errors_are_structured(api: httpx.Client) -> None:
    cases = [
        {"source_url": SOURCE, "intensity": 1.5},
        {"source_url": ""},
        {"source_url": "ftp://example.com/a.mp4"},
        {"source_url": SOURCE, "metadata": {"a": {"nested": True}}},
        {"source_url": SOURCE, "unknown": 1},
        {},
    ]
    for body in cases:
        response = api.post(ROUTES["gaze_redirect"], json=body)
        assert response.status_code == 422, body
        error = response.json()["error"]
        assert error["code"] == "validation_error" and error["message"] and error["details"]
    response = api.post(
        ROUTES["gaze_redirect"], content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"
    assert api.get("/v1/tasks", params={"limit": 0}).status_code == 422
    assert api.get("/v1/tasks", params={"limit": 201}).status_code == 422
    assert api.get("/v1/tasks", params={"type": "render"}).status_code == 422


def test_unknown_routes_and_methods_are_structured(api: httpx.Client) -> None:
    missing = api.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = api.put("/v1/tasks")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_auth_failures(api_url: str) -> None:
    cases: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer fl_not-a-real-key"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + "x" * 5000},
    ]
    for headers in cases:
        response = httpx.get(f"{api_url}/v1/tasks", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
        assert (
            httpx.post(
                f"{api_url}{ROUTES['transcribe']}", json={"source_url": SOURCE}, headers=headers
            ).status_code
            == 401
        )


def test_other_workspace_sees_404_never_403(api: httpx.Client, other_api: httpx.Client) -> None:
    task = create(api)
    for response in (
        other_api.get(f"/v1/tasks/{task['id']}"),
        other_api.post(f"/v1/tasks/{task['id']}/cancel"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert all(t["id"] != task["id"] for t in other_api.get("/v1/tasks").json()["data"])
    assert api.get(f"/v1/tasks/{task['id']}").json()["status"] == "ingesting"  # untouched


def test_get_unknown_task_is_404(api: httpx.Client) -> None:
    for task_id in ["task_01J8QR2K5VKDGN2T4FBM3CZYX7", "nope", "render_x"]:
        response = api.get(f"/v1/tasks/{task_id}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def _pages(api: httpx.Client, **params: object) -> list[dict[str, object]]:
    pages, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = api.get("/v1/tasks", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        cursor = page["next_cursor"]
        if not page["has_more"]:
            assert cursor is None
            return pages


def test_pagination_7_tasks_at_limit_3(api: httpx.Client) -> None:
    created = [create(api)["id"] for _ in range(7)]
    pages = _pages(api, limit=3)
    assert [len(p["data"]) for p in pages] == [3, 3, 1]  # type: ignore[arg-type]
    assert [p["has_more"] for p in pages] == [True, True, False]
    seen = [t["id"] for p in pages for t in p["data"]]  # type: ignore[attr-defined]
    assert len(seen) == len(set(seen)) == 7
    assert seen == list(reversed(created))  # newest first


def test_filters_use_full_pages(api: httpx.Client) -> None:
    gaze, upscale = [], []
    for _ in range(5):
        gaze.append(create(api, "gaze_redirect")["id"])
        upscale.append(create(api, "super_resolution")["id"])
    assert api.post(f"/v1/tasks/{gaze[0]}/cancel").status_code == 200
    assert api.post(f"/v1/tasks/{upscale[1]}/cancel").status_code == 200

    by_type = _pages(api, type="gaze_redirect", limit=2)
    assert [len(p["data"]) for p in by_type] == [2, 2, 1]  # type: ignore[arg-type]
    assert {t["id"] for p in by_type for t in p["data"]} == set(gaze)  # type: ignore[attr-defined]

    by_status = _pages(api, status="cancelled", limit=1)
    assert [t["id"] for p in by_status for t in p["data"]] == [upscale[1], gaze[0]]  # type: ignore[attr-defined]

    both = _pages(api, type="super_resolution", status="ingesting", limit=2)
    ids = [t["id"] for p in both for t in p["data"]]  # type: ignore[attr-defined]
    assert ids == [i for i in reversed(upscale) if i != upscale[1]]
    assert [len(p["data"]) for p in both] == [2, 2]  # type: ignore[arg-type]

    assert api.get("/v1/tasks", params={"status": "completed"}).json() == {
        "data": [],
        "next_cursor": None,
        "has_more": False,
    }


def test_cursor_tampering_and_reuse_across_filters(api: httpx.Client, other_api: httpx.Client) -> None:
    for _ in range(3):
        create(api)
    cursor = api.get("/v1/tasks", params={"limit": 1}).json()["next_cursor"]
    assert cursor
    body, signature = cursor.split(".")
    attempts = [
        ({"cursor": body[:-2] + "xx." + signature, "limit": 1}, api),
        ({"cursor": cursor, "limit": 1, "type": "transcribe"}, api),
        ({"cursor": cursor, "limit": 1}, other_api),
        ({"cursor": "garbage", "limit": 1}, api),
    ]
    for params, client in attempts:
        response = client.get("/v1/tasks", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == "invalid_cursor"


def test_cancel_then_cancel_again_is_409(api: httpx.Client) -> None:
    task = create(api)
    first = api.post(f"/v1/tasks/{task['id']}/cancel")
    assert first.status_code == 200
    cancelled = first.json()
    assert cancelled["status"] == "cancelled" and cancelled["completed_at"]
    second = api.post(f"/v1/tasks/{task['id']}/cancel")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "task_not_cancellable"
    assert api.get(f"/v1/tasks/{task['id']}").json() == cancelled
