"""services.limits over the in-memory stores and a fake limiter/broker: which limits a workspace runs under, when a
request is refused, and what a change of limits resets."""

from __future__ import annotations

from typing import Any

import pytest

from framelane.errors import NotFound, RateLimited
from framelane.models import ApiKeyRecord, EffectiveLimits, RateLimitOut, Workspace, WorkspaceLimits, utc_now
from framelane.services import limits, workspaces
from framelane.services.context import ServiceContext
from framelane.services.limits import (
    RequestClass,
    describe_workspace,
    effective_limits,
    get_workspace_limits,
    known_refusal,
    take_request_token,
    update_workspace_limits,
    workspace_concurrency,
)
from tests.unit.broker_fakes import broker, brokered_context, limiter
from tests.unit.fakes import fake_context, store

DEFAULTS = {
    "rate_limit_create_per_minute": 60,
    "rate_limit_create_burst": 10,
    "rate_limit_requests_per_minute": 300,
    "rate_limit_requests_burst": 50,
    "workspace_concurrency": 4,
}


@pytest.fixture(autouse=True)
def _forget_keys() -> None:
    workspaces._recent_keys.clear()


def _workspace(ctx: ServiceContext, limits: WorkspaceLimits | None = None) -> Workspace:
    workspace = Workspace(
        id="ws_1",
        name="one",
        created_at=utc_now(),
        signing_secret="whsec_c2VjcmV0",
        limits=limits or WorkspaceLimits(),
    )
    key = ApiKeyRecord(key_hash="h", workspace_id="ws_1", prefix="fl_abcd", created_at=utc_now())
    store(ctx).put_workspace(workspace, key)
    return workspace


def test_defaults_apply_where_a_workspace_sets_nothing() -> None:
    ctx = fake_context(**DEFAULTS)
    assert effective_limits(ctx.settings, WorkspaceLimits()) == EffectiveLimits(
        task_creation=RateLimitOut(per_minute=60, burst=10),
        requests=RateLimitOut(per_minute=300, burst=50),
        concurrency=4,
    )


def test_each_override_replaces_its_own_default_and_zero_is_an_override() -> None:
    ctx = fake_context(**DEFAULTS)
    overrides = WorkspaceLimits(
        create_per_minute=0, create_burst=2, requests_per_minute=7, requests_burst=3, concurrency=1
    )
    assert effective_limits(ctx.settings, overrides) == EffectiveLimits(
        task_creation=RateLimitOut(per_minute=0, burst=2),
        requests=RateLimitOut(per_minute=7, burst=3),
        concurrency=1,
    )


@pytest.mark.parametrize(
    ("kind", "bucket", "burst", "per_minute"),
    [(RequestClass.create, "create", 10, 60), (RequestClass.requests, "requests", 50, 300)],
)
def test_a_request_takes_from_its_own_bucket(
    kind: RequestClass, bucket: str, burst: int, per_minute: int
) -> None:
    ctx = brokered_context(**DEFAULTS)
    state = take_request_token(ctx, _workspace(ctx), kind)
    assert state is not None and state.allowed
    assert limiter(ctx).taken == [("ws_1", bucket, burst, per_minute)]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (RequestClass.create, "too many task creations: 60 per minute (bursts of 10); retry in 2 s"),
        (RequestClass.requests, "too many requests: 300 per minute (bursts of 50); retry in 2 s"),
    ],
)
def test_an_empty_bucket_refuses_with_when_to_retry(kind: RequestClass, message: str) -> None:
    ctx = brokered_context(**DEFAULTS)
    limiter(ctx).allowed = False
    with pytest.raises(RateLimited) as raised:
        take_request_token(ctx, _workspace(ctx), kind)
    assert str(raised.value) == message and raised.value.bucket.retry_after == 1.2


def _logged(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """The warnings services.limits logs (operators alert on them), as (message, extra)."""
    logged: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(limits.logger, "warning", lambda message, extra: logged.append((message, extra)))
    return logged


def test_no_limit_no_limiter_or_a_redis_outage_lets_requests_through(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = brokered_context(**DEFAULTS)
    off = _workspace(ctx, WorkspaceLimits(create_per_minute=0))
    assert take_request_token(ctx, off, RequestClass.create) is None
    assert limiter(ctx).taken == []
    assert take_request_token(ctx, off, RequestClass.requests) is not None  # the other bucket still counts
    limiter(ctx).fails = True
    logged = _logged(monkeypatch)
    assert take_request_token(ctx, off, RequestClass.requests) is None
    assert logged == [("rate limit not checked", {"error": "ConnectionError"})]
    plain = fake_context(**DEFAULTS)
    plain.__dict__["limiter"] = None
    assert take_request_token(plain, _workspace(plain), RequestClass.requests) is None


def test_concurrency_is_the_workspaces_or_the_default() -> None:
    ctx = fake_context(**DEFAULTS)
    assert workspace_concurrency(ctx, "ws_none") == 4
    _workspace(ctx, WorkspaceLimits(concurrency=2))
    assert workspace_concurrency(ctx, "ws_1") == 2


def test_describe_shows_limits_and_usage() -> None:
    ctx = brokered_context(**DEFAULTS)
    broker(ctx).running, broker(ctx).waiting = 3, 5
    workspace = _workspace(ctx, WorkspaceLimits(concurrency=6))
    described = describe_workspace(ctx, workspace)
    assert (described.id, described.name, described.created_at) == ("ws_1", "one", workspace.created_at)
    assert described.limits == effective_limits(ctx.settings, workspace.limits)
    assert (described.usage.running, described.usage.queued) == (3, 5)
    assert broker(ctx).usage_asked == ["ws_1"]
    without = fake_context(**DEFAULTS)
    usage = describe_workspace(without, _workspace(without)).usage
    assert (usage.running, usage.queued) == (0, 0)


def test_an_update_merges_the_fields_it_sets_and_resets_buckets_and_quota() -> None:
    ctx = brokered_context(**DEFAULTS)
    _workspace(ctx, WorkspaceLimits(create_burst=3, concurrency=2))
    workspaces._recent_keys[("t", "h")] = (1e12, store(ctx).workspaces["ws_1"])
    limits = update_workspace_limits(ctx, "ws_1", WorkspaceLimits(concurrency=None, requests_per_minute=9))
    assert store(ctx).workspaces["ws_1"].limits == WorkspaceLimits(create_burst=3, requests_per_minute=9)
    assert limits.concurrency == 4 and limits.task_creation.burst == 3 and limits.requests.per_minute == 9
    assert limiter(ctx).resets == [("ws_1", "create"), ("ws_1", "requests")]
    assert broker(ctx).quotas == {"ws_1": 4}
    assert workspaces._recent_keys == {}  # the auth cache no longer holds the old limits
    assert get_workspace_limits(ctx, "ws_1") == limits


def test_an_update_without_redis_still_applies() -> None:
    ctx = fake_context(**DEFAULTS)
    ctx.__dict__["limiter"] = None
    _workspace(ctx)
    assert update_workspace_limits(ctx, "ws_1", WorkspaceLimits(concurrency=3)).concurrency == 3


def test_limits_of_an_unknown_workspace_are_not_found() -> None:
    ctx = brokered_context()
    with pytest.raises(NotFound, match="ws_none"):
        update_workspace_limits(ctx, "ws_none", WorkspaceLimits(concurrency=3))
    with pytest.raises(NotFound, match="ws_none"):
        get_workspace_limits(ctx, "ws_none")
    _workspace(ctx)
    store(ctx).set_workspace_limits = lambda workspace_id, limits: False  # type: ignore[method-assign]
    with pytest.raises(NotFound, match="ws_1"):
        update_workspace_limits(ctx, "ws_1", WorkspaceLimits(concurrency=3))
    assert broker(ctx).quotas == {} and limiter(ctx).resets == []


def test_a_known_refusal_needs_no_take_and_says_the_same_as_one_from_the_limiter() -> None:
    ctx = brokered_context(**DEFAULTS)
    workspace = _workspace(ctx)
    assert known_refusal(ctx, workspace, RequestClass.create) is None  # nothing known: ask take_request_token
    limiter(ctx).known_empty = True
    refusal = known_refusal(ctx, workspace, RequestClass.create)
    assert refusal is not None and refusal.bucket.retry_after == 0.4
    assert str(refusal) == "too many task creations: 60 per minute (bursts of 10); retry in 1 s"
    off = _workspace(ctx, WorkspaceLimits(create_per_minute=0))
    assert known_refusal(ctx, off, RequestClass.create) is None  # no limit: never refused
    assert limiter(ctx).taken == []
