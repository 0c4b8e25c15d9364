"""The broker reads the Redis AUTH token per connection: after a rotation it reconnects with the new token
(a real redis-server with requirepass on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from framelane.adapters.redis_streams import RedisBroker, RotatingAuthToken
from framelane.local.processes import ChildService, start_redis


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[ChildService]:
    service = start_redis(tmp_path)
    try:
        yield service
    finally:
        service.stop()


def test_the_broker_reconnects_with_a_rotated_token(redis_server: ChildService) -> None:
    admin = redis.Redis.from_url(redis_server.url, decode_responses=True)
    admin.config_set("requirepass", "first-token")
    admin = redis.Redis.from_url(redis_server.url, password="first-token", decode_responses=True)
    current = ["first-token"]
    broker = RedisBroker(
        redis_server.url, "rotation:tasks", credentials=RotatingAuthToken(lambda: current[0])
    )
    broker.ping()
    assert broker.acquire_throttle("before", 60)

    admin.config_set("requirepass", "second-token")  # the secret rotates ...
    current[0] = "second-token"
    admin = redis.Redis.from_url(redis_server.url, password="second-token", decode_responses=True)
    admin.client_kill_filter(_type="normal", skipme=True)  # ... and the old connections are dropped
    assert broker.acquire_throttle("after", 60)  # a new connection, authenticated with the new token
    broker.ping()
    admin.close()
