"""All Redis access: the renderer broker (one stream per task type, one consumer group), leases and cancel flags.

At-least-once: an entry stays pending until the worker ACKs it after the output is stored and the job row
updated; an entry whose consumer went quiet for the visibility timeout is reclaimed with XAUTOCLAIM. A worker
reads one entry from one stream per call, so it never holds an entry it is not working on.

Redis is not the source of truth: DynamoDB keeps a dispatch record per waiting render (services/render_queue.py),
so entries lost to a restart without persistence or a failover are added again. Connections retry with jittered
backoff, and a consumer group that vanished with the data (NOGROUP) is created again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from pydantic import ValidationError
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry

from framelane.models import RenderMessage, TaskType

GROUP = "renderers"
CANCEL_TTL_SECONDS = 7 * 24 * 3600
STREAM_MAX_LENGTH = 100_000
CONNECT_RETRIES = 6  # about 10 s of jittered backoff before a call gives up (the worker loop then backs off)
HEALTH_CHECK_SECONDS = 15
DEAD_LETTER_MAX_LENGTH = 10_000


class BrokerUnavailable(Exception):
    """Redis could not be reached even after the connection retries."""


@dataclass(frozen=True)
class Delivery:
    """One stream entry handed to this consumer. `message` is None for an entry that cannot be parsed."""

    task_type: TaskType
    entry_id: str
    message: RenderMessage | None
    times_delivered: int
    raw: str = ""
    problem: str | None = None


class RedisBroker:
    def __init__(self, url: str, stream_prefix: str = "framelane:tasks") -> None:
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=30,
            socket_connect_timeout=5,
            decode_responses=True,
            retry=Retry(ExponentialWithJitterBackoff(base=0.1, cap=4), CONNECT_RETRIES),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            health_check_interval=HEALTH_CHECK_SECONDS,
        )
        self._url = url
        self.stream_prefix = stream_prefix
        self._groups_ready: set[TaskType] = set()
        self._next_stream = 0

    def ping(self) -> None:
        """Readiness answers at once: one try on a fresh connection, without the work calls' retries."""
        probe = redis.Redis.from_url(
            self._url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        try:
            probe.ping()
        finally:
            probe.close()

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

    def _group_lost(self, task_type: TaskType, exc: redis.ResponseError) -> bool:
        """NOGROUP: Redis lost its data (restart without persistence, failover). Create the group again."""
        if "NOGROUP" not in str(exc):
            return False
        self._groups_ready.discard(task_type)
        self.ensure_group(task_type)
        return True

    def enqueue(self, message: RenderMessage) -> str:
        try:
            self.ensure_group(message.task_type)
            entry_id: Any = self._redis.xadd(
                self.stream(message.task_type),
                {"message": message.model_dump_json()},
                maxlen=STREAM_MAX_LENGTH,
                approximate=True,
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailable(str(exc)) from exc
        return str(entry_id)

    def has_entry(self, task_type: TaskType, entry_id: str) -> bool:
        """Whether the entry is still in the stream (waiting or pending)."""
        return bool(self._redis.xrange(self.stream(task_type), min=entry_id, max=entry_id, count=1))

    def remove(self, task_type: TaskType, entry_id: str) -> None:
        """Drop an entry whether or not a consumer holds it (its task ended elsewhere)."""
        pipe = self._redis.pipeline()
        pipe.xack(self.stream(task_type), GROUP, entry_id)
        pipe.xdel(self.stream(task_type), entry_id)
        pipe.execute(raise_on_error=False)

    def discard_stream(self, task_type: TaskType) -> int:
        """Drop the stream, its entries and its group (made again on the next enqueue); returns the entries.
        For the local stack's restart, when every entry's task token belongs to an execution that is gone."""
        stream = self.stream(task_type)
        pipe = self._redis.pipeline()
        pipe.xlen(stream)
        pipe.delete(stream)
        length, _ = pipe.execute()
        self._groups_ready.discard(task_type)
        return int(length)

    def read(self, consumer: str, task_types: list[TaskType], block_ms: int) -> Delivery | None:
        """At most one new entry, from one stream, waiting up to `block_ms`.

        Streams are asked one at a time, starting after the one served last, so every task type gets its turn
        (XREADGROUP over several streams hands out one entry per stream, which this consumer would then hold
        without working on them). With nothing waiting, a plain XREAD on all streams is the doorbell: it
        delivers nothing to the group, it only wakes us when an entry arrives."""
        delivery = self._read_in_turn(consumer, task_types)
        if delivery is not None:
            return delivery
        rang: Any = self._redis.xread({self.stream(t): "$" for t in task_types}, count=1, block=block_ms)
        return self._read_in_turn(consumer, task_types) if rang else None

    def _read_in_turn(self, consumer: str, task_types: list[TaskType]) -> Delivery | None:
        count = len(task_types)
        start = self._next_stream % count
        for offset in range(count):
            task_type = task_types[(start + offset) % count]
            delivery = self._read_one(consumer, task_type)
            if delivery is not None:
                self._next_stream = start + offset + 1
                return delivery
        return None

    def _read_one(self, consumer: str, task_type: TaskType) -> Delivery | None:
        try:
            response: Any = self._redis.xreadgroup(GROUP, consumer, {self.stream(task_type): ">"}, count=1)
        except redis.ResponseError as exc:
            if self._group_lost(task_type, exc):
                return None
            raise
        for _, entries in response or []:
            for entry_id, fields in entries:
                return self._delivery(task_type, entry_id, fields, times_delivered=1)
        return None

    def reclaim(self, consumer: str, task_type: TaskType, min_idle_ms: int) -> Delivery | None:
        """Take over at most one entry another consumer left idle for `min_idle_ms` (it died or hung)."""
        stream = self.stream(task_type)
        try:
            result: Any = self._redis.xautoclaim(
                stream, GROUP, consumer, min_idle_ms, start_id="0-0", count=1
            )
        except redis.ResponseError as exc:
            if self._group_lost(task_type, exc):
                return None
            raise
        for entry_id, fields in result[1]:
            if not fields:  # deleted while pending
                self._redis.xack(stream, GROUP, entry_id)
                continue
            pending = self._redis.xpending_range(stream, GROUP, min=entry_id, max=entry_id, count=1)
            times = int(pending[0]["times_delivered"]) if pending else 1
            return self._delivery(task_type, entry_id, fields, times_delivered=times)
        return None

    def touch(self, delivery: Delivery, consumer: str) -> None:
        """Reset the entry's idle time: the visibility heartbeat of a live worker (JUSTID: not a delivery)."""
        try:
            self._redis.xclaim(
                self.stream(delivery.task_type), GROUP, consumer, 0, [delivery.entry_id], justid=True
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise  # NOGROUP: the entry went with Redis's data; the keeper adds it again if needed

    def release(self, delivery: Delivery, consumer: str, idle_ms: int) -> None:
        """Hand an entry back on shutdown: idle at once and one delivery fewer, so the next reclaim of it does
        not count as an abandonment."""
        self._redis.xclaim(
            self.stream(delivery.task_type),
            GROUP,
            consumer,
            0,
            [delivery.entry_id],
            idle=idle_ms,
            retrycount=max(delivery.times_delivered - 1, 0),
            justid=True,
        )

    def ack(self, delivery: Delivery) -> None:
        self.remove(delivery.task_type, delivery.entry_id)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Keep an unprocessable entry for operators (`{prefix}:dead`) and take it off the work stream."""
        self._redis.xadd(
            f"{self.stream_prefix}:dead",
            {"stream": self.stream(delivery.task_type), "message": delivery.raw, "reason": reason},
            maxlen=DEAD_LETTER_MAX_LENGTH,
            approximate=True,
        )
        self.ack(delivery)

    def backlog(self, task_type: TaskType) -> int:
        """Entries not yet delivered plus entries in flight: what autoscaling watches. Settled entries are
        deleted, so this is the stream's length (the group's `lag` turns unknown once entries are deleted)."""
        return int(self._redis.xlen(self.stream(task_type)))

    def hold_lease(self, task_id: str, consumer: str, ttl_seconds: float) -> None:
        """A worker is rendering `task_id`: the render queue keeper leaves such tasks to the worker's heartbeat."""
        self._redis.set(self._lease(task_id), consumer, px=max(int(ttl_seconds * 1000), 1))

    def drop_lease(self, task_id: str) -> None:
        self._redis.delete(self._lease(task_id))

    def is_leased(self, task_id: str) -> bool:
        return bool(self._redis.exists(self._lease(task_id)))

    def _lease(self, task_id: str) -> str:
        return f"{self.stream_prefix}:lease:{task_id}"

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
        raw = fields.get("message", "")
        try:
            message = RenderMessage.model_validate_json(raw)
        except ValidationError as exc:
            problem = f"unprocessable stream entry: {exc.errors()[0]['msg']}" if exc.errors() else str(exc)
            return Delivery(task_type, entry_id, None, times_delivered, raw=raw, problem=problem)
        if message.task_type is not task_type:
            problem = f"a {message.task_type} message on the {task_type} stream"
            return Delivery(task_type, entry_id, None, times_delivered, raw=raw, problem=problem)
        return Delivery(task_type, entry_id, message, times_delivered, raw=raw)
