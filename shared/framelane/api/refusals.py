"""Known refusals, answered cheaply and last: a workspace flooding one API process past its limit must not slow
the other workspaces' requests there.

One process's CPU and interpreter lock are shared by all its requests. A flood from a few connections sends its
next request as soon as a 429 comes back, so its refusals keep the event loop busy, and a thread serving another
workspace's request waits for the interpreter each time its I/O returns (bench/fairness_bench.py: the other
workspace's p95 went from 30 to 100–300 ms). So, for a request whose workspace's bucket this process already knows
is empty (`RefusalMemo`, keyed by an API key authenticated in the last seconds):

- it is answered here, before routing, dependencies and the exception handlers (a quarter of the CPU), once the
  dependency has told which bucket that method and path take;
- and only when no other request is being served, waiting for that at most `YIELD_SECONDS` (and never past the
  moment its token is back, when it goes on to Redis as any request): the flood's refusals take the time the
  others leave, and its clients, waiting on their 429s, send less.

Nothing changes but when and how cheaply a 429 leaves: a refused request is never admitted, nor an admitted one
refused or delayed. On Lambda (one request per instance) nothing is ever waited for.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from framelane.api.errors import error_response
from framelane.errors import RateLimited, Unauthorized
from framelane.services.context import ServiceContext
from framelane.services.limits import RequestClass, known_refusal
from framelane.services.workspaces import recently_authenticated

YIELD_SECONDS = 0.25
_ROUTES_MAX = 10_000


class ServedRequests:
    """The requests this process is serving (less those stepping aside), and which bucket each method and path
    takes, as the workspace dependencies report it. Used only on the event loop."""

    def __init__(self) -> None:
        self.count = 0
        self._idle: list[asyncio.Future[None]] = []
        self._buckets: dict[tuple[str, str], RequestClass] = {}

    def learn(self, scope: Scope, kind: RequestClass) -> None:
        """A route's dependency took from `kind`: a later request with the same method and path takes from it too."""
        if len(self._buckets) >= _ROUTES_MAX:  # paths with ids in them: bounded, relearnt
            self._buckets.clear()
        self._buckets[(scope["method"], scope["path"])] = kind

    def bucket(self, scope: Scope) -> RequestClass | None:
        return self._buckets.get((scope["method"], scope["path"]))

    def started(self) -> None:
        self.count += 1

    def finished(self) -> None:
        self.count -= 1
        if self.count == 0:
            for idle in self._idle:
                if not idle.done():
                    idle.set_result(None)
            self._idle.clear()

    async def step_aside(self, at_most: float) -> None:
        """Stop counting the caller's request, and wait until no other request is served, at most `at_most` s."""
        self.finished()
        if self.count == 0 or at_most <= 0:
            return
        idle = asyncio.get_running_loop().create_future()
        self._idle.append(idle)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle, at_most)
        finally:
            if idle in self._idle:
                self._idle.remove(idle)


class KnownRefusalsMiddleware:
    """Counts every HTTP request while it is served; answers the known refusals itself, last (module doc). Sits
    inside RateLimitHeadersMiddleware, which adds the headers from the bucket left in the request state."""

    def __init__(self, app: ASGIApp, ctx: ServiceContext, served: ServedRequests) -> None:
        self.app = app
        self.ctx = ctx
        self.served = served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.served.started()
        counted = True
        try:
            refusal = self._known_refusal(scope)
            if refusal is not None:
                counted = False
                await self.served.step_aside(min(YIELD_SECONDS, refusal.bucket.retry_after))
                refusal = self._known_refusal(
                    scope
                )  # the numbers as they are now; None once the token is back
            if refusal is None:
                if not counted:
                    self.served.started()
                    counted = True
                await self.app(scope, receive, send)
                return
            scope.setdefault("state", {})["rate_limit"] = refusal.bucket
            await error_response(429, refusal.code, refusal.message)(scope, receive, send)
        finally:
            if counted:
                self.served.finished()

    def _known_refusal(self, scope: Scope) -> RateLimited | None:
        kind = self.served.bucket(scope)
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
