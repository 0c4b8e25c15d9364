"""All Redis access. The renderer broker (streams, consumer groups) builds on this connection."""

from __future__ import annotations

import redis


class RedisBroker:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)

    def ping(self) -> None:
        self._redis.ping()
