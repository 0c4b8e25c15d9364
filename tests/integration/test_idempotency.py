"""Idempotency-Key: replay, reuse with another body, in-flight conflicts, the 20-way race, failure release."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from framelane.adapters import keys
from framelane.adapters.dynamodb import IdempotencyRecord
from framelane.api.app import create_app
from framelane.models import WorkspaceCreated, WorkspaceLimits
from framelane.services.limits import update_workspace_limits

from .conftest import Stack

ROUTE = "/v1/tasks/gaze-redirect"
BODY = {
    "source_url": "https://cdn.example.com/presenter.mp4",
    "metadata": {"project_id": "proj_123"},
    "intensity": 0.8,
}


def post(api: httpx.Client, key: str, body: dict[str, object] = BODY, route: str = ROUTE) -> httpx.Response:
    return api.post(route, json=body, headers={"Idempotency-Key": key})


def task_count(api: httpx.Client) -> int:
    return len(api.get("/v1/tasks", params={"limit": 200}).json()["data"])


def test_replay_same_body_returns_200_and_the_same_task(api: httpx.Client) -> None:
    first = post(api, "key-1")
    assert first.status_code == 202
    reordered = {"intensity": 0.8, "metadata": {"project_id": "proj_123"}, "source_url": BODY["source_url"]}
    replay = post(api, "key-1", reordered)
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert task_count(api) == 1


def test_same_key_different_body_is_422(api: httpx.Client) -> None:
    assert post(api, "key-2").status_code == 202
    for body, route in [
        ({**BODY, "intensity": 0.5}, ROUTE),
        ({"source_url": BODY["source_url"]}, "/v1/tasks/transcribe"),
    ]:
        response = post(api, "key-2", body, route)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert task_count(api) == 1


def test_keys_are_per_workspace(api: httpx.Client, other_api: httpx.Client) -> None:
    mine, theirs = post(api, "shared-key"), post(other_api, "shared-key")
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]


def test_key_length_limit(api: httpx.Client) -> None:
    assert post(api, "k" * 255).status_code == 202
    response = post(api, "k" * 256)
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"


def test_in_flight_duplicate_is_409_and_lapsed_claim_is_taken_over(
    stack: Stack, api: httpx.Client, workspace: WorkspaceCreated
) -> None:
    from framelane.models import GazeRedirectRequest
    from framelane.services.fingerprint import request_fingerprint

    now = int(time.time())
    fingerprint = request_fingerprint("create_task:gaze_redirect", GazeRedirectRequest.model_validate(BODY))

    def claim(key: str, locked_until: int) -> None:
        record = IdempotencyRecord(
            workspace.workspace_id, key, "in_progress", fingerprint, "other-request", locked_until, now + 3600
        )
        assert stack.ctx.store.claim_idempotency_key(record, now) == (None, None)

    claim("in-flight", now + 60)
    response = post(api, "in-flight")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert task_count(api) == 0

    claim("crashed", now - 1)  # its owner died: the lock lapsed
    assert post(api, "crashed").status_code == 202


def test_twenty_concurrent_identical_requests_create_one_task(api: httpx.Client) -> None:
    def send(_: int) -> httpx.Response:
        return post(api, "race-key")

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(send, range(20)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(202) == 1, codes
    assert set(codes) <= {200, 202, 409}, codes
    ids = {r.json()["id"] for r in responses if r.status_code in (200, 202)}
    assert len(ids) == 1
    assert task_count(api) == 1
    assert post(api, "race-key").status_code == 200  # settled: a late retry is a replay


def test_failed_create_releases_the_key_and_stores_nothing(
    stack: Stack, workspace: WorkspaceCreated, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(stack.settings, stack.ctx)
    headers = {"Authorization": f"Bearer {workspace.api_key}", "Idempotency-Key": "flaky"}

    def broken(*_: object) -> None:
        raise RuntimeError("store exploded")

    with TestClient(app, raise_server_exceptions=False) as client:
        monkeypatch.setattr(type(stack.ctx.store), "put_task", broken)
        failed = client.post(ROUTE, json=BODY, headers=headers)
        assert failed.status_code == 500
        assert failed.json() == {
            "error": {"code": "internal_error", "message": "internal error; the request was not completed"}
        }
        monkeypatch.undo()
        assert client.get("/v1/tasks", headers=headers).json()["data"] == []
        retried = client.post(ROUTE, json=BODY, headers=headers)
        assert retried.status_code == 202


def test_concurrent_creates_with_distinct_keys_all_succeed(
    stack: Stack, api: httpx.Client, workspace: WorkspaceCreated
) -> None:
    """Found by bench/api_bench.py: moto's TransactWriteItems deep-copies tables without a lock, so concurrent
    keyed creates failed with 500 locally. The local moto_server serializes DynamoDB requests."""
    # 480 creations at once: far past the default creation bucket
    update_workspace_limits(stack.ctx, workspace.workspace_id, WorkspaceLimits(create_burst=1000))
    with ThreadPoolExecutor(
        max_workers=8
    ) as pool:  # a fuller table makes moto's deep copy long enough to collide
        warm_up = list(pool.map(lambda i: api.post(ROUTE, json=BODY).status_code, range(400)))
    assert warm_up == [202] * 400

    def send(i: int) -> tuple[int, str]:
        response = post(api, f"distinct-{i}")
        return response.status_code, response.json().get("id", "")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(send, range(80)))
    assert [code for code, _ in results] == [202] * 80
    keyed = {task_id for _, task_id in results}
    assert len(keyed) == 80  # one task per key, none shared
    stored: set[str] = set()
    cursor = None
    for _ in range(10):  # 480 tasks: three pages of 200
        page = api.get("/v1/tasks", params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
        stored |= {task["id"] for task in page["data"]}
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert len(stored) == 480 and keyed <= stored


def test_retry_after_a_crash_adopts_the_task_the_crashed_request_stored(
    stack: Stack, api: httpx.Client, workspace: WorkspaceCreated
) -> None:
    """The request stored its task, then died before completing its claim: the retry must not make a second."""
    from framelane.models import GazeRedirectRequest, TaskType
    from framelane.services.fingerprint import request_fingerprint
    from framelane.services.tasks import _new_task

    now = int(time.time())
    ws = stack.ctx.store.get_workspace(workspace.workspace_id)
    assert ws is not None
    request = GazeRedirectRequest.model_validate(BODY)
    stored = _new_task(ws, TaskType.gaze_redirect, request, "crash-key")
    record = IdempotencyRecord(
        workspace.workspace_id,
        "crash-key",
        "in_progress",
        request_fingerprint("create_task:gaze_redirect", request),
        "dead-request",
        now - 1,
        now + 3600,
        task_id=stored.id,
    )
    assert stack.ctx.store.claim_idempotency_key(record, now - 120) == (None, None)
    stack.ctx.store.put_task(stored)  # ... and the process died here

    retried = post(api, "crash-key")
    assert retried.status_code == 202
    assert retried.json()["id"] == stored.id
    assert task_count(api) == 1
    assert post(api, "crash-key").status_code == 200


def _raw_table(stack: Stack) -> tuple[Any, str]:
    """DynamoDB itself, to age or remove a row the way time or an operator would."""
    store = stack.ctx.store
    return store._client, store.table_name  # type: ignore[attr-defined]


def _wire_key(key: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in key.items()}


def test_a_key_past_its_ttl_makes_a_new_task_even_before_dynamodb_deletes_it(
    stack: Stack, api: httpx.Client, workspace: WorkspaceCreated
) -> None:
    first = post(api, "expiring")
    assert first.status_code == 202
    client, table = _raw_table(stack)
    key = keys.idempotency(workspace.workspace_id, "expiring")
    item = client.get_item(TableName=table, Key=_wire_key(key))["Item"]
    kept_for = int(item[keys.TTL_ATTRIBUTE]["N"]) - int(time.time())
    assert 24 * 3600 - 60 <= kept_for <= 24 * 3600  # kept 24 h
    # a day later: DynamoDB's TTL deletes expired rows lazily (up to days later), so the row is still there
    client.update_item(
        TableName=table,
        Key=_wire_key(key),
        UpdateExpression="SET #ttl = :past",
        ExpressionAttributeNames={"#ttl": keys.TTL_ATTRIBUTE},
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    second = post(api, "expiring")
    assert second.status_code == 202, second.text
    assert second.json()["id"] != first.json()["id"]
    assert task_count(api) == 2
    assert post(api, "expiring").json()["id"] == second.json()["id"]  # the key now names the new task


def test_replaying_a_key_whose_task_is_gone_is_404_and_creates_nothing(
    stack: Stack, api: httpx.Client, workspace: WorkspaceCreated
) -> None:
    first = post(api, "orphaned")
    assert first.status_code == 202
    client, table = _raw_table(stack)
    task_key = keys.task(workspace.workspace_id, first.json()["id"])
    client.delete_item(TableName=table, Key=_wire_key(task_key))
    replay = post(api, "orphaned")
    assert replay.status_code == 404, replay.text
    assert replay.json()["error"]["code"] == "not_found"
    assert first.json()["id"] in replay.json()["error"]["message"]
    assert task_count(api) == 0
