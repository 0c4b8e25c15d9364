"""Request rate limits: one token bucket per workspace and request class, kept in Redis.

Redis rather than DynamoDB counters: every API process (uvicorn locally, each Lambda on AWS) already reaches
it, a check is one round trip of well under a millisecond, and a Lua script makes refill-and-take atomic, so
concurrent processes never over-admit. A bucket is only a few seconds of state: losing it to a Redis restart
merely refills it. The script reads Redis's own clock, so API hosts with skewed clocks agree.

An empty bucket is remembered in the process until its next token is back (`RefusalMemo`): a workspace flooding
past its limit is refused without a Redis round trip, so its refusals cost the API little of what the other
workspaces need. That is exact, not a loosening: while a bucket holds less than one token no process can take
from it, so nothing but the refill changes it before that time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.credentials import CredentialProvider
from redis.retry import Retry

# KEYS[1] bucket; ARGV: capacity, refill per second. Returns allowed (0/1), tokens left (x1000),
# milliseconds until one token is back, milliseconds until the bucket is full again.
_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate / 1000)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
local to_full = math.ceil((capacity - tokens) * 1000 / rate)
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], to_full + 1000)
local to_one = 0
if tokens < 1 then
  to_one = math.ceil((1 - tokens) * 1000 / rate)
end
return {allowed, math.floor(tokens * 1000), to_one, to_full}
"""


@dataclass(frozen=True)
class BucketState:
    """The outcome of taking one token: what the RateLimit-* and Retry-After headers report."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: float  # seconds until the bucket holds a token again (0: it holds one now)
    reset: float


@dataclass(frozen=True)
class _Refusal:
    capacity: int
    per_minute: int
    until: float  # monotonic: the lacking token is back
    full_at: float  # monotonic: the bucket is full again


class RefusalMemo:
    """Empty buckets this process has seen (refused, or emptied by its own admission), each until its next token
    is back; bounded by clearing when full. It only ever refuses: an admission always comes from Redis.

    A refusal is kept under the limits it was given for, so a request checked under other limits (an operator
    changed them) asks Redis again. Deadlines count from before the round trip, so they are never later than
    Redis's own: a request after the deadline always goes to Redis, which stays the authority."""

    MAX_ENTRIES = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._refusals: dict[tuple[str, str], _Refusal] = {}

    def remember(
        self, key: tuple[str, str], capacity: int, per_minute: int, asked_at: float, state: BucketState
    ) -> None:
        if state.retry_after <= 0:
            return  # a token is left: nothing to know (an admission that emptied the bucket is remembered)
        if len(self._refusals) >= self.MAX_ENTRIES:
            self._refusals.clear()
        self._refusals[key] = _Refusal(
            capacity, per_minute, asked_at + state.retry_after, asked_at + state.reset
        )

    def refusal(self, key: tuple[str, str], capacity: int, per_minute: int) -> BucketState | None:
        """The remembered refusal, as Redis would answer it now; None once the token is back (forgotten then)."""
        refusal = self._refusals.get(key)
        if refusal is None or (refusal.capacity, refusal.per_minute) != (capacity, per_minute):
            return None
        now = self.clock()
        if now >= refusal.until:
            self._refusals.pop(key, None)
            return None
        return BucketState(
            allowed=False,
            limit=capacity,
            remaining=0,
            retry_after=refusal.until - now,
            reset=refusal.full_at - now,
        )

    def forget(self, key: tuple[str, str]) -> None:
        self._refusals.pop(key, None)


class RedisRateLimiter:
    """Token buckets in Redis. Short timeouts and no retries: an API request must not wait on a Redis outage."""

    def __init__(self, url: str, prefix: str, *, credentials: CredentialProvider | None = None) -> None:
        self._redis = redis.Redis.from_url(
            url,
            credential_provider=credentials,
            socket_timeout=1,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 1),
            decode_responses=True,
        )
        self._take = self._redis.register_script(_TAKE)
        self.prefix = prefix
        self.refusals = RefusalMemo()

    def known_refusal(
        self, workspace_id: str, bucket: str, capacity: int, per_minute: int
    ) -> BucketState | None:
        """The refusal `take` would answer now without asking Redis, or None: no I/O, so callable on an event loop."""
        return self.refusals.refusal((workspace_id, bucket), capacity, per_minute)

    def take(self, workspace_id: str, bucket: str, capacity: int, per_minute: int) -> BucketState:
        """Take one token from the workspace's `bucket` (capacity `capacity`, refilled at `per_minute`)."""
        known = self.known_refusal(workspace_id, bucket, capacity, per_minute)
        if known is not None:
            return known
        asked_at = self.refusals.clock()
        key = f"{self.prefix}:rate:{workspace_id}:{bucket}"
        result: Any = self._take(keys=[key], args=[capacity, per_minute / 60])
        allowed, milli_tokens, to_one_ms, to_full_ms = (int(v) for v in result)
        state = BucketState(
            allowed=bool(allowed),
            limit=capacity,
            remaining=math.floor(milli_tokens / 1000),
            retry_after=to_one_ms / 1000,
            reset=to_full_ms / 1000,
        )
        self.refusals.remember((workspace_id, bucket), capacity, per_minute, asked_at, state)
        return state

    def reset(self, workspace_id: str, bucket: str) -> None:
        """Forget a bucket (it starts full again): used when an operator changes the workspace's limits. Other
        processes may still refuse from their memo until the lacking token would have been back."""
        self.refusals.forget((workspace_id, bucket))
        self._redis.delete(f"{self.prefix}:rate:{workspace_id}:{bucket}")
