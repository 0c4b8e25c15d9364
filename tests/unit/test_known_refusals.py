"""Known refusals: a refusal remembered until its token is back (RefusalMemo), answered before routing after being
held (api/refusals.py). In-process, over the fake stores and a fake limiter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from framelane.adapters.redis_limits import BucketState, RefusalMemo
from framelane.api import deps, refusals
from framelane.api.app import create_app
from framelane.models import ApiKeyRecord, Workspace, utc_now
from framelane.services import workspaces
from framelane.services.workspaces import hash_api_key
from tests.unit.broker_fakes import brokered_context, limiter
from tests.unit.fakes import store

KEY = "fl_" + "r" * 40
BUCKET = ("ws_1", "create")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _refused(retry_after: float = 0.5, reset: float = 10.0) -> BucketState:
    return BucketState(allowed=False, limit=20, remaining=0, retry_after=retry_after, reset=reset)


def test_a_refusal_is_answered_from_memory_until_its_token_is_back() -> None:
    clock = Clock()
    memo = RefusalMemo(clock)
    memo.remember(BUCKET, 20, 120, asked_at=100.0, state=_refused())
    clock.now = 100.2
    assert memo.refusal(BUCKET, 20, 120) == BucketState(
        allowed=False, limit=20, remaining=0, retry_after=pytest.approx(0.3), reset=pytest.approx(9.8)
    )
    clock.now = 100.5  # the token is back: the first request after the deadline asks Redis again
    assert memo.refusal(BUCKET, 20, 120) is None
    clock.now = 100.1
    assert memo.refusal(BUCKET, 20, 120) is None  # and the refusal was forgotten


def test_an_admission_is_never_answered_from_memory_but_one_that_empties_the_bucket_is_remembered() -> None:
    memo = RefusalMemo(Clock())
    memo.remember(BUCKET, 20, 120, asked_at=100.0, state=BucketState(True, 20, 3, 0.0, 10.0))
    assert memo.refusal(BUCKET, 20, 120) is None  # a token left: the next request asks Redis
    memo.remember(BUCKET, 20, 120, asked_at=100.0, state=BucketState(True, 20, 0, 0.4, 10.0))
    assert memo.refusal(BUCKET, 20, 120) == BucketState(
        False, 20, 0, pytest.approx(0.4), 10.0
    )  # under one token


def test_other_limits_or_a_reset_ask_redis_again() -> None:
    memo = RefusalMemo(Clock())
    memo.remember(BUCKET, 20, 120, asked_at=100.0, state=_refused())
    assert memo.refusal(BUCKET, 20, 600) is None  # an operator changed the limits
    assert memo.refusal(BUCKET, 40, 120) is None
    assert memo.refusal(("ws_1", "requests"), 20, 120) is None
    assert memo.refusal(BUCKET, 20, 120) is not None
    memo.forget(BUCKET)
    assert memo.refusal(BUCKET, 20, 120) is None


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RefusalMemo, "MAX_ENTRIES", 2)
    memo = RefusalMemo(Clock())
    for workspace in ("ws_1", "ws_2", "ws_3"):
        memo.remember((workspace, "create"), 20, 120, asked_at=100.0, state=_refused())
    assert [memo.refusal((w, "create"), 20, 120) is not None for w in ("ws_1", "ws_2", "ws_3")] == [
        False,
        False,
        True,
    ]


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """How long each known refusal was held (the hold itself returns at once)."""
    seconds: list[float] = []

    async def record(held_for: float) -> None:
        seconds.append(held_for)

    monkeypatch.setattr(refusals, "hold", record)
    return seconds


@pytest.fixture
def client(held: list[float]) -> Iterator[TestClient]:
    with _client() as test_client:
        yield test_client


@contextmanager
def _client() -> Iterator[TestClient]:
    workspaces._recent_keys.clear()
    ctx = brokered_context(auth_cache_seconds=60)
    workspace = Workspace(id="ws_1", name="one", created_at=utc_now(), signing_secret="whsec_c2VjcmV0")
    record = ApiKeyRecord(
        key_hash=hash_api_key(KEY), workspace_id="ws_1", prefix=KEY[:7], created_at=utc_now()
    )
    store(ctx).put_workspace(workspace, record)
    with TestClient(create_app(ctx=ctx), headers={"Authorization": f"Bearer {KEY}"}) as test_client:
        yield test_client
    workspaces._recent_keys.clear()


def test_a_known_refusal_is_held_then_answered_before_routing_with_the_same_envelope_and_headers(
    client: TestClient, held: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = limiter(client.app.state.ctx)  # type: ignore[attr-defined]
    body = {"source_url": "https://cdn.example.com/a.mp4"}
    fake.allowed = False
    from_redis = client.post("/v1/tasks/gaze-redirect", json=body)  # routed: the dependency learns the bucket
    routed: list[str] = []
    monkeypatch.setattr(deps, "recently_authenticated", lambda *_: routed.append("dependency"))
    fake.known_empty = True
    known = client.post("/v1/tasks/gaze-redirect", json=body)
    assert routed == [] and len(fake.taken) == 1  # neither the route's dependency nor the limiter asked
    assert held == [0.25]  # the fake's token is back in 0.4 s: held for the most a refusal is held
    assert (from_redis.status_code, known.status_code) == (429, 429)
    assert known.json()["error"] == {
        "code": "rate_limited",
        "message": "too many task creations: 600 per minute (bursts of 100); retry in 1 s",
    }
    assert from_redis.json()["error"]["code"] == "rate_limited"
    assert known.headers["Retry-After"] == "1" and known.headers["RateLimit-Remaining"] == "0"
    assert known.headers["RateLimit-Limit"] == "100" and known.headers["RateLimit-Reset"] == "2"


def test_a_refusal_whose_token_came_back_while_held_goes_on_to_the_route(
    client: TestClient, held: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = limiter(client.app.state.ctx)  # type: ignore[attr-defined]
    assert client.get("/v1/tasks/task_missing").status_code == 404
    fake.known_empty = True

    async def token_back(held_for: float) -> None:
        held.append(held_for)
        fake.known_empty = False

    monkeypatch.setattr(refusals, "hold", token_back)
    assert client.get("/v1/tasks/task_missing").status_code == 404  # admitted by the limiter after the hold
    assert held == [0.25] and len(fake.taken) == 2


def test_a_refusal_whose_token_is_soon_back_is_held_until_then_give_or_take_the_spread(
    client: TestClient, held: list[float]
) -> None:
    fake = limiter(client.app.state.ctx)  # type: ignore[attr-defined]
    assert client.get("/v1/tasks/task_missing").status_code == 404
    fake.known_empty, fake.known_retry_after = True, 0.1
    for _ in range(20):
        assert client.get("/v1/tasks/task_missing").status_code == 429
    assert all(0.1 <= seconds <= 0.1 + refusals.SPREAD_SECONDS for seconds in held)
    assert len(set(held)) > 1  # spread, so the requests held for one token do not all wake at once


def test_only_the_bucket_the_route_takes_is_checked(client: TestClient, held: list[float]) -> None:
    fake = limiter(client.app.state.ctx)  # type: ignore[attr-defined]
    assert (
        client.get("/v1/tasks/task_missing").status_code == 404
    )  # learns: GET of this path takes "requests"
    fake.known_empty = True
    assert client.get("/v1/tasks/task_missing").status_code == 429
    assert client.get("/openapi.json").status_code == 200  # takes no token: never refused from memory
    assert held == [0.25]


def test_on_lambda_a_known_refusal_is_answered_at_once(
    held: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "framelane-api")
    with _client() as on_lambda:
        fake = limiter(on_lambda.app.state.ctx)  # type: ignore[attr-defined]
        assert on_lambda.get("/v1/tasks/task_missing").status_code == 404
        fake.known_empty = True
        assert on_lambda.get("/v1/tasks/task_missing").status_code == 429
    assert held == [] and len(fake.taken) == 1
