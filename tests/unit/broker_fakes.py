"""In-memory stand-ins for the Redis broker and rate limiter, for the services that talk to them (limits, notify,
the render queue, transcription slots, segment progress). They record what the services asked of them and answer
what a test sets up; the real semantics (streams, Lua slots, token buckets) are tested against real Redis in
tests/integration."""

from __future__ import annotations

from dataclasses import dataclass, field

from framelane.adapters.redis_limits import BucketState
from framelane.adapters.redis_streams import BrokerUnavailable, Usage
from framelane.models import RenderMessage, TaskType
from framelane.services.context import ServiceContext
from tests.unit.fakes import fake_context


@dataclass
class FakeBroker:
    enqueued: list[tuple[RenderMessage, int | None]] = field(default_factory=list)
    entries: set[tuple[TaskType, str, str]] = field(default_factory=set)
    removed: list[tuple[TaskType, str, str]] = field(default_factory=list)
    quotas: dict[str, int] = field(default_factory=dict)
    leased: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)
    throttles: list[tuple[str, float]] = field(default_factory=list)
    throttle_open: bool = True
    slots: list[tuple[str, str, int, float, bool]] = field(default_factory=list)
    slot_free: bool = True
    segments: dict[str, dict[int, str]] = field(default_factory=dict)
    running: int = 0
    waiting: int = 0
    usage_asked: list[str] = field(default_factory=list)
    down: bool = False

    def enqueue(self, message: RenderMessage, quota: int | None = None) -> str:
        if self.down:
            raise BrokerUnavailable("redis is down")
        entry_id = f"{len(self.enqueued) + 1}-0"
        self.enqueued.append((message, quota))
        self.entries.add((message.task_type, message.workspace_id, entry_id))
        return entry_id

    def has_entry(self, task_type: TaskType, workspace_id: str, entry_id: str) -> bool:
        return (task_type, workspace_id, entry_id) in self.entries

    def remove(self, task_type: TaskType, workspace_id: str, entry_id: str) -> None:
        self.removed.append((task_type, workspace_id, entry_id))
        self.entries.discard((task_type, workspace_id, entry_id))

    def set_quota(self, workspace_id: str, quota: int) -> None:
        self.quotas[workspace_id] = quota

    def usage(self, workspace_id: str) -> Usage:
        self.usage_asked.append(workspace_id)
        return Usage(running=self.running, waiting=self.waiting)

    def is_leased(self, task_id: str) -> bool:
        return task_id in self.leased

    def request_cancel(self, task_id: str) -> None:
        self.cancelled.add(task_id)

    def is_cancelled(self, task_id: str) -> bool:
        return task_id in self.cancelled

    def acquire_throttle(self, name: str, seconds: float) -> bool:
        self.throttles.append((name, seconds))
        return self.throttle_open

    def hold_slot(
        self, workspace_id: str, task_id: str, quota: int, ttl_seconds: float, *, force: bool = False
    ) -> bool:
        self.slots.append((workspace_id, task_id, quota, ttl_seconds, force))
        return self.slot_free or force

    def report_segment(self, task_id: str, index: int, state: str) -> None:
        self.segments.setdefault(task_id, {})[index] = state

    def segment_states(self, task_id: str) -> dict[int, str]:
        return dict(self.segments.get(task_id, {}))


@dataclass
class FakeLimiter:
    taken: list[tuple[str, str, int, int]] = field(default_factory=list)
    resets: list[tuple[str, str]] = field(default_factory=list)
    allowed: bool = True
    fails: bool = False
    known_empty: bool = False
    known_retry_after: float = 0.4

    def known_refusal(
        self, workspace_id: str, bucket: str, capacity: int, per_minute: int
    ) -> BucketState | None:
        if not self.known_empty:
            return None
        return BucketState(
            allowed=False, limit=capacity, remaining=0, retry_after=self.known_retry_after, reset=2.0
        )

    def take(self, workspace_id: str, bucket: str, capacity: int, per_minute: int) -> BucketState:
        if self.fails:
            raise ConnectionError("redis is down")
        self.taken.append((workspace_id, bucket, capacity, per_minute))
        return BucketState(allowed=self.allowed, limit=capacity, remaining=0, retry_after=1.2, reset=3.0)

    def reset(self, workspace_id: str, bucket: str) -> None:
        self.resets.append((workspace_id, bucket))


def brokered_context(**settings: object) -> ServiceContext:
    """fake_context with a FakeBroker and a FakeLimiter in place of Redis."""
    ctx = fake_context(**settings)
    ctx.__dict__["broker"] = FakeBroker()
    ctx.__dict__["limiter"] = FakeLimiter()
    return ctx


def broker(ctx: ServiceContext) -> FakeBroker:
    assert isinstance(ctx.broker, FakeBroker)
    return ctx.broker


def limiter(ctx: ServiceContext) -> FakeLimiter:
    assert isinstance(ctx.limiter, FakeLimiter)
    return ctx.limiter
