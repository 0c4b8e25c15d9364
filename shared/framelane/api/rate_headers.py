"""RateLimit-Limit / -Remaining / -Reset on every response to a workspace's request, and Retry-After on a 429.

A raw ASGI middleware rather than a route hook, so error responses (404, 422, the 429 itself) carry them too:
the workspace dependency leaves its bucket in the request state, and the headers are added as the response
starts."""

from __future__ import annotations

import math

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framelane.adapters.redis_limits import BucketState


def rate_limit_headers(bucket: BucketState) -> dict[str, str]:
    headers = {
        "RateLimit-Limit": str(bucket.limit),
        "RateLimit-Remaining": str(bucket.remaining),
        "RateLimit-Reset": str(math.ceil(bucket.reset)),
    }
    if not bucket.allowed:
        headers["Retry-After"] = str(max(1, math.ceil(bucket.retry_after)))
    return headers


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                bucket = scope.get("state", {}).get("rate_limit")
                if isinstance(bucket, BucketState):
                    headers = MutableHeaders(scope=message)
                    for name, value in rate_limit_headers(bucket).items():
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
