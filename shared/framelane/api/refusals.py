"""Known refusals, answered cheaply and held: a workspace flooding an API process past its limit must not slow the
other workspaces' requests there.

One process's CPU and interpreter lock are shared by all its requests. A flood from a few connections sends its
next request as soon as a 429 comes back, so even cheap refusals keep the event loop busy, and a thread serving
another workspace's request waits for the interpreter each time its I/O returns (bench/fairness_bench.py: the
other workspace's p95 went from 30 to 100–300 ms). So a request whose workspace's bucket this process already knows
is empty (`RefusalMemo`, for an API key authenticated in the last seconds) is

- answered here, before routing, dependencies and exception handlers (0.6 ms of CPU where a refusal routed to
  the dependency took 1.0), once the route's dependency has told which bucket that method and path take
  (`KnownRefusals.learn`);
- held until its token is back (give or take `SPREAD_SECONDS`), at most `HOLD_SECONDS`, and then, if the token
  is back, sent on to Redis as any request (so it may be admitted), else refused. A client that ignores
  Retry-After and asks again at once is slowed to a few requests a second per connection, and the refusals it
  gets cost next to nothing; a client that honours Retry-After waits no longer in all.

A refused request is never admitted without its token, nor an admitted one refused or delayed. On Lambda nothing is
held (`hold_seconds` 0): an instance serves one request at a time, so a held refusal would only bill its wait and
keep an instance busy.
"""

from __future__ import annotations

import asyncio
import random

from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from framelane.api.errors import error_response
from framelane.errors import RateLimited, Unauthorized
from framelane.services.context import ServiceContext
from framelane.services.limits import RequestClass, known_refusal
from framelane.services.workspaces import recently_authenticated

HOLD_SECONDS = 0.25
SPREAD_SECONDS = 0.02
_ROUTES_MAX = 10_000


class KnownRefusals:
    """Which bucket each method and path takes, as the workspace dependencies report it: a method and path always
    reach the same route (the routes are fixed once the app is built)."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], RequestClass] = {}

    def learn(self, scope: Scope, kind: RequestClass) -> None:
        if len(self._buckets) >= _ROUTES_MAX:  # paths with ids in them: bounded, relearnt
            self._buckets.clear()
        self._buckets[(scope["method"], scope["path"])] = kind

    def bucket(self, scope: Scope) -> RequestClass | None:
        return self._buckets.get((scope["method"], scope["path"]))


async def hold(seconds: float) -> None:
    await asyncio.sleep(seconds)


class KnownRefusalsMiddleware:
    """Answers the known refusals itself, after holding them (module doc). Sits inside RateLimitHeadersMiddleware,
    which adds the RateLimit-* and Retry-After headers from the bucket left in the request state."""

    def __init__(
        self, app: ASGIApp, ctx: ServiceContext, known: KnownRefusals, hold_seconds: float = HOLD_SECONDS
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.known = known
        self.hold_seconds = hold_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._known_refusal(scope) if scope["type"] == "http" else None
        if refusal is not None and self.hold_seconds > 0:
            # spread over SPREAD_SECONDS past the token's return, so that of the requests held for one token the
            # first one's answer (the bucket empty again) is known before the rest wake: they are refused here
            spread = random.uniform(0, SPREAD_SECONDS)  # noqa: S311 (jitter, not a secret)
            await hold(min(self.hold_seconds, refusal.bucket.retry_after + spread))
            refusal = self._known_refusal(scope)  # the numbers as they are now; None once the token is back
        if refusal is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["rate_limit"] = refusal.bucket
        await error_response(429, refusal.code, refusal.message)(scope, receive, send)

    def _known_refusal(self, scope: Scope) -> RateLimited | None:
        kind = self.known.bucket(scope)
        if kind is None:
            return None
        scheme, api_key = get_authorization_scheme_param(Headers(scope=scope).get("authorization"))
        if scheme.lower() != "bearer":
            return None
        try:
            workspace = recently_authenticated(self.ctx, api_key)
        except Unauthorized:
            return None  # the route's dependency answers that
        return None if workspace is None else known_refusal(self.ctx, workspace, kind)
