"""Per-workspace request rate limits on the real API (uvicorn) over a real redis-server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from framelane.adapters.redis_limits import RedisRateLimiter
from framelane.api.app import create_app
from framelane.client import ApiError, FramelaneClient
from framelane.config import Settings
from framelane.services.context import build_context
from framelane.services.workspaces import create_workspace

from .conftest import Stack, serve_app

LIMITS = {
    "rate_limit_create_per_minute": 60,  # one token a second
    "rate_limit_create_burst": 3,
    "rate_limit_requests_per_minute": 60,
    "rate_limit_requests_burst": 5,
    "stream_prefix": "flrate:tasks",
}
CREATE = "/v1/tasks/gaze-redirect"
NOT_A_TASK = {"source_url": "ftp://nowhere"}  # 422 without starting anything, still counted


@pytest.fixture(scope="module")
def limited(stack: Stack) -> Iterator[tuple[Settings, list[str]]]:
    """Two API processes' worth of apps on one Redis: the buckets must be shared between them."""
    settings = stack.settings.model_copy(update=LIMITS)
    with (
        serve_app(create_app(settings, build_context(settings))) as first,
        serve_app(create_app(settings, build_context(settings))) as second,
    ):
        yield settings, [first, second]


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_headers_on_every_response_and_429_past_the_burst(
    stack: Stack, limited: tuple[Settings, list[str]]
) -> None:
    _, urls = limited
    key = create_workspace(stack.ctx, "rate").api_key
    with _client(urls[0], key) as first, _client(urls[1], key) as second:
        seen = []
        for client in (first, second, first, second, first):
            response = client.get("/v1/tasks/task_missing")  # a 404 carries the headers too
            assert response.status_code == 404
            seen.append(int(response.headers["RateLimit-Remaining"]))
            assert response.headers["RateLimit-Limit"] == "5"
            assert 0 < int(response.headers["RateLimit-Reset"]) <= 6
        assert seen == [4, 3, 2, 1, 0]  # one bucket across both API processes

        refused = second.get("/v1/tasks")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert "per minute" in refused.json()["error"]["message"]
        assert refused.headers["Retry-After"] == "1"
        assert refused.headers["RateLimit-Remaining"] == "0"

        # creations have their own bucket: still all three there
        created = [first.post(CREATE, json=NOT_A_TASK) for _ in range(4)]
        assert [r.status_code for r in created] == [422, 422, 422, 429]
        assert created[0].headers["RateLimit-Limit"] == "3"

        time.sleep(float(refused.headers["Retry-After"]) + 0.2)  # one token back
        assert first.get("/v1/tasks").status_code == 200


def test_one_workspace_over_its_limit_leaves_another_untouched(
    stack: Stack, limited: tuple[Settings, list[str]]
) -> None:
    _, urls = limited
    busy, quiet = (create_workspace(stack.ctx, name).api_key for name in ("busy", "quiet"))
    with _client(urls[0], busy) as a, _client(urls[0], quiet) as b:
        statuses = [a.get("/v1/tasks").status_code for _ in range(8)]
        assert statuses.count(429) >= 2
        assert b.get("/v1/tasks").status_code == 200
        assert b.get("/v1/tasks").headers["RateLimit-Remaining"] == "3"


def test_unauthenticated_requests_carry_no_rate_headers(limited: tuple[Settings, list[str]]) -> None:
    _, urls = limited
    assert "RateLimit-Limit" not in httpx.get(urls[0] + "/v1/tasks").headers
    assert "RateLimit-Limit" not in httpx.get(urls[0] + "/healthz").headers


def test_client_waits_out_retry_after_and_says_so(stack: Stack, limited: tuple[Settings, list[str]]) -> None:
    _, urls = limited
    key = create_workspace(stack.ctx, "patient").api_key
    waits: list[tuple[float, int, int]] = []
    with FramelaneClient(urls[1], key, on_wait=lambda *w: waits.append(w)) as client:
        for _ in range(6):
            client.list_tasks()  # the sixth is refused once, then admitted after the wait
    assert len(waits) == 1
    seconds, attempt, retries = waits[0]
    assert 1.0 <= seconds <= 1.5 and (attempt, retries) == (1, 4)


def test_client_gives_up_after_its_retries(stack: Stack, limited: tuple[Settings, list[str]]) -> None:
    _, urls = limited
    key = create_workspace(stack.ctx, "impatient").api_key
    waits: list[tuple[float, int, int]] = []
    with (
        FramelaneClient(urls[0], key, rate_limit_retries=0, on_wait=lambda *w: waits.append(w)) as client,
        _client(urls[0], key) as raw,
    ):
        for _ in range(5):
            raw.get("/v1/tasks")
        with pytest.raises(ApiError, match="429 rate_limited"):
            client.list_tasks()
    assert waits == []


def test_every_operation_documents_429_with_retry_after(limited: tuple[Settings, list[str]]) -> None:
    _, urls = limited
    document = httpx.get(urls[0] + "/openapi.json").json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) > 10 and "/v1/workspace" in document["paths"]
    for operation in operations:
        refused = operation["responses"]["429"]
        assert "Retry-After" in refused["headers"], operation["operationId"]
        assert refused["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }


def test_an_empty_bucket_is_remembered_in_the_process_until_its_token_is_back(
    limited: tuple[Settings, list[str]],
) -> None:
    settings, _ = limited
    assert settings.redis_url is not None
    limiter, elsewhere = (RedisRateLimiter(settings.redis_url, settings.stream_prefix) for _ in range(2))
    workspace_id = f"ws_memo{time.time_ns()}"
    assert elsewhere.take(workspace_id, "requests", 1, 60).allowed  # a bucket of one, a token a second
    refused = limiter.take(workspace_id, "requests", 1, 60)  # asks Redis: empty
    assert not refused.allowed and 0 < refused.retry_after <= 1
    elsewhere.reset(workspace_id, "requests")  # the bucket in Redis is full again…
    assert not limiter.take(workspace_id, "requests", 1, 60).allowed  # …but this process did not ask
    time.sleep(refused.retry_after)
    assert limiter.take(workspace_id, "requests", 1, 60).allowed  # past the deadline it asks again: admitted
    assert not limiter.take(workspace_id, "requests", 1, 60).allowed  # the admission emptied it: known
    elsewhere.reset(workspace_id, "requests")
    assert not limiter.take(workspace_id, "requests", 1, 60).allowed  # still without asking
