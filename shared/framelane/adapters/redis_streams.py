"""All Redis access: the renderer broker (one stream per task type, one consumer group) and cancel flags.

At-least-once: an entry stays pending until the worker ACKs it after the output is stored and the job row
updated; an entry whose consumer went quiet for the visibility timeout is reclaimed with XAUTOCLAIM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from framelane.models import RenderMessage, TaskType

GROUP = "renderers"
CANCEL_TTL_SECONDS = 7 * 24 * 3600
STREAM_MAX_LENGTH = 100_000


@dataclass(frozen=True)
class Delivery:
    task_type: TaskType
    entry_id: str
    message: RenderMessage
    times_delivered: int


class RedisBroker:
    def __init__(self, url: str, stream_prefix: str = "framelane:tasks") -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=30, socket_connect_timeout=5, decode_responses=True
        )
        self.stream_prefix = stream_prefix
        self._groups_ready: set[TaskType] = set()

    def ping(self) -> None:
        self._redis.ping()

    def stream(self, task_type: TaskType) -> str:
        return f"{self.stream_prefix}:{task_type}"

    def ensure_group(self, task_type: TaskType) -> None:
        if task_type in self._groups_ready:
            return
        try:
            self._redis.xgroup_create(self.stream(task_type), GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups_ready.add(task_type)

    def enqueue(self, message: RenderMessage) -> str:
        self.ensure_group(message.task_type)
        entry_id: Any = self._redis.xadd(
            self.stream(message.task_type),
            {"message": message.model_dump_json()},
            maxlen=STREAM_MAX_LENGTH,
            approximate=True,
        )
        return str(entry_id)

    def read(self, consumer: str, task_types: list[TaskType], block_ms: int) -> list[Delivery]:
        """New entries for this consumer (at most one), waiting up to `block_ms`."""
        streams = {self.stream(t): ">" for t in task_types}
        response: Any = self._redis.xreadgroup(GROUP, consumer, streams, count=1, block=block_ms)  # type: ignore[arg-type]
        deliveries = []
        for stream_name, entries in response or []:
            task_type = TaskType(stream_name.rsplit(":", 1)[1])
            for entry_id, fields in entries:
                deliveries.append(self._delivery(task_type, entry_id, fields, times_delivered=1))
        return deliveries

    def reclaim(self, consumer: str, task_type: TaskType, min_idle_ms: int) -> list[Delivery]:
        """Take over at most one entry another consumer left idle for `min_idle_ms` (it died or hung)."""
        stream = self.stream(task_type)
        result: Any = self._redis.xautoclaim(stream, GROUP, consumer, min_idle_ms, start_id="0-0", count=1)
        claimed = result[1]
        deliveries = []
        for entry_id, fields in claimed:
            if not fields:  # deleted while pending
                self._redis.xack(stream, GROUP, entry_id)
                continue
            pending = self._redis.xpending_range(stream, GROUP, min=entry_id, max=entry_id, count=1)
            times = int(pending[0]["times_delivered"]) if pending else 1
            deliveries.append(self._delivery(task_type, entry_id, fields, times_delivered=times))
        return deliveries

    def touch(self, delivery: Delivery, consumer: str) -> None:
        """Reset the entry's idle time: the visibility heartbeat of a live worker."""
        self._redis.xclaim(
            self.stream(delivery.task_type), GROUP, consumer, 0, [delivery.entry_id], justid=True
        )

    def ack(self, delivery: Delivery) -> None:
        stream = self.stream(delivery.task_type)
        pipe = self._redis.pipeline()
        pipe.xack(stream, GROUP, delivery.entry_id)
        pipe.xdel(stream, delivery.entry_id)
        pipe.execute()

    def backlog(self, task_type: TaskType) -> int:
        """Entries not yet delivered plus entries in flight: what autoscaling watches."""
        try:
            groups = self._redis.xinfo_groups(self.stream(task_type))
        except redis.ResponseError:
            return 0
        for group in groups:
            if group["name"] == GROUP:
                return int(group.get("lag") or 0) + int(group.get("pending") or 0)
        return 0

    def request_cancel(self, task_id: str) -> None:
        self._redis.set(f"{self.stream_prefix}:cancel:{task_id}", "1", ex=CANCEL_TTL_SECONDS)

    def is_cancelled(self, task_id: str) -> bool:
        return bool(self._redis.exists(f"{self.stream_prefix}:cancel:{task_id}"))

    def acquire_throttle(self, name: str, seconds: float) -> bool:
        """True for the first caller in each `seconds` window (shared by every process)."""
        return bool(
            self._redis.set(f"{self.stream_prefix}:throttle:{name}", "1", nx=True, px=int(seconds * 1000))
        )

    @staticmethod
    def _delivery(
        task_type: TaskType, entry_id: str, fields: dict[str, str], times_delivered: int
    ) -> Delivery:
        return Delivery(
            task_type, entry_id, RenderMessage.model_validate_json(fields["message"]), times_delivered
        )
