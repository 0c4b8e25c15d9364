"""All Redis access: the renderer broker (one stream per task type and workspace, one consumer group), leases
and cancel flags.

At-least-once: an entry stays pending until the worker ACKs it after the output is stored and the task row
updated; an entry whose consumer went quiet for the visibility timeout is reclaimed with XAUTOCLAIM. A worker
takes one entry per call, so it never holds an entry it is not working on.

Fair to every workspace: each workspace has its own stream per task type, and a worker takes its next entry
with one Lua script (atomic, so workers racing cannot overshoot a quota) that walks the workspaces with work,
least recently served first (round-robin), skips those already running their concurrency quota, and takes the
oldest waiting entry of the first one left (order within a workspace is kept). A workspace's running count is
not a counter but its entries pending in the group: ACKed (done, failed, cancelled) frees the slot, and a dead
worker's entry keeps its slot until another worker reclaims it and the work goes on, so no slot can leak.

Redis is not the source of truth: DynamoDB keeps a dispatch record per waiting render (services/render_queue.py),
so entries lost to a restart without persistence or a failover are added again. Connections retry with jittered
backoff, and a consumer group that vanished is created again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from pydantic import ValidationError
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.credentials import CredentialProvider
from redis.retry import Retry

from framelane.models import RenderMessage, TaskType

GROUP = "renderers"
CANCEL_TTL_SECONDS = 7 * 24 * 3600
STREAM_MAX_LENGTH = 100_000
CONNECT_RETRIES = 6  # about 10 s of jittered backoff before a call gives up (the worker loop then backs off)
HEALTH_CHECK_SECONDS = 15
DEAD_LETTER_MAX_LENGTH = 10_000
DOORBELL_MAX_LENGTH = 100
# every type the broker carries: the renders, and the offline transcriptions of deployments without AssemblyAI
BROKER_TYPES = list(TaskType)

# KEYS: stream, workspaces (zset), doorbell. ARGV: group, message, max length, workspace id, quota ('' = keep),
# doorbell max length.
_ENQUEUE = """
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local seq = redis.call('INCR', KEYS[2] .. ':seq')
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'message', ARGV[2], 'seq', seq)
redis.call('ZADD', KEYS[2], 'NX', 0, ARGV[4])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[2] .. ':quota', ARGV[4], ARGV[5])
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'workspace', ARGV[4])
return id
"""

# Every entry carries `seq` (one counter per broker): stream ids of different streams can tie within a
# millisecond, and the take script keeps a workspace's order across its task types by it.
# Shared by the take, usage and hold scripts: a workspace's (running, waiting, stream entries) over every
# broker type.
# Running also counts the live slot holds of its transcriptions (`<prefix>:holds:<workspace>`, a sorted set of
# task ids scored by when the hold expires), so renders and transcriptions share the quota.
_USAGE_FN = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function usage(prefix, group, ws, types)
  local holds = redis.call('ZCOUNT', prefix .. ':holds:' .. ws, '(' .. now_ms(), '+inf')
  local running, waiting = holds, 0
  for _, t in ipairs(types) do
    local s = prefix .. ':' .. t .. ':' .. ws
    local len = redis.call('XLEN', s)
    if len > 0 then
      local pending = redis.pcall('XPENDING', s, group)
      if type(pending) == 'table' and pending.err == nil then
        running = running + pending[1]
        waiting = waiting + len - pending[1]
      else
        redis.pcall('XGROUP', 'CREATE', s, group, '0')
        waiting = waiting + len
      end
    end
  end
  return running, waiting, waiting + running - holds
end
"""

# KEYS: workspaces (zset). ARGV: prefix, group, consumer, default quota, count of all broker types, those
# types, then the types this worker serves. Returns {type, workspace, entry id, message} or nil.
_TAKE = (
    _USAGE_FN
    + """
local function field(entry, name)
  for i = 1, #entry[2], 2 do
    if entry[2][i] == name then return entry[2][i + 1] end
  end
  return nil
end
local function next_waiting(s, group)
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', s)) do
    local name, last
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
    end
    if name == group then
      local entries = redis.call('XRANGE', s, '(' .. last, '+', 'COUNT', 1)
      if #entries > 0 then return tonumber(field(entries[1], 'seq')) or 0 end
      return nil
    end
  end
  return nil
end
local prefix, group, consumer = ARGV[1], ARGV[2], ARGV[3]
local default_quota = tonumber(ARGV[4])
local count = tonumber(ARGV[5])
local all, mine = {}, {}
for i = 1, count do all[#all + 1] = ARGV[5 + i] end
for i = 6 + count, #ARGV do mine[#mine + 1] = ARGV[i] end
for _, ws in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local running, waiting, entries = usage(prefix, group, ws, all)
  if entries == 0 then
    redis.call('ZREM', KEYS[1], ws)
    redis.call('HDEL', KEYS[1] .. ':quota', ws)
  else
    local quota = tonumber(redis.call('HGET', KEYS[1] .. ':quota', ws)) or default_quota
    if waiting > 0 and running < quota then
      local best_stream, best_type, best_seq = nil, nil, nil
      for _, t in ipairs(mine) do
        local s = prefix .. ':' .. t .. ':' .. ws
        if redis.call('XLEN', s) > 0 then
          local seq = next_waiting(s, group)
          if seq ~= nil and (best_seq == nil or seq < best_seq) then
            best_stream, best_type, best_seq = s, t, seq
          end
        end
      end
      if best_stream ~= nil then
        local got = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1, 'STREAMS', best_stream, '>')
        redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[1] .. ':served'), ws)
        local entry = got[1][2][1]
        return {best_type, ws, entry[1], field(entry, 'message') or ''}
      end
    end
  end
end
return nil
"""
)

# KEYS: the workspace's holds. ARGV: prefix, group, workspace, quota, task id, ttl ms, force ('1': renew or take
# whatever the quota), broker types. Returns 1 when the task holds a slot now.
_HOLD = (
    _USAGE_FN
    + """
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local types = {}
for i = 8, #ARGV do types[#types + 1] = ARGV[i] end
local held = redis.call('ZSCORE', KEYS[1], ARGV[5])
local running = usage(ARGV[1], ARGV[2], ARGV[3], types)
if held or ARGV[7] == '1' or running < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[6]), ARGV[5])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[6]))
  return 1
end
return 0
"""
)

# KEYS: none. ARGV: prefix, group, workspace, broker types. Returns {running, waiting}.
_USAGE = (
    _USAGE_FN
    + """
local types = {}
for i = 4, #ARGV do types[#types + 1] = ARGV[i] end
local running, waiting = usage(ARGV[1], ARGV[2], ARGV[3], types)
return {running, waiting}
"""
)


class BrokerUnavailable(Exception):
    """Redis could not be reached even after the connection retries."""


@dataclass(frozen=True)
class Delivery:
    """One stream entry handed to this consumer. `message` is None for an entry that cannot be parsed."""

    task_type: TaskType
    workspace_id: str
    entry_id: str
    message: RenderMessage | None
    times_delivered: int
    raw: str = ""
    problem: str | None = None


class RotatingAuthToken(CredentialProvider):
    """The AUTH token, read again for every new connection: after a rotation (Secrets Manager, cached a few
    minutes) reconnects use the new token, where a token fixed in the URL would fail until a restart."""

    def __init__(self, read_token: Callable[[], str | None]) -> None:
        self._read_token = read_token

    def get_credentials(self) -> tuple[str]:
        token = self._read_token()
        if not token:
            raise BrokerUnavailable("the Redis AUTH secret is empty")
        return (token,)


@dataclass(frozen=True)
class Usage:
    """A workspace's renders in the broker: running (held by a worker, or by a dead one until reclaimed) and
    waiting for a slot or a worker."""

    running: int
    waiting: int


class RedisBroker:
    def __init__(
        self,
        url: str,
        stream_prefix: str = "framelane:tasks",
        default_quota: int = 8,
        *,
        credentials: CredentialProvider | None = None,
    ) -> None:
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=30,
            socket_connect_timeout=5,
            socket_keepalive=True,  # a connection idle behind a NAT or load balancer is noticed, not hung on
            decode_responses=True,
            retry=Retry(ExponentialWithJitterBackoff(base=0.1, cap=4), CONNECT_RETRIES),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            health_check_interval=HEALTH_CHECK_SECONDS,
            credential_provider=credentials,
        )
        self._url = url
        self._credentials = credentials
        self.stream_prefix = stream_prefix
        self.default_quota = default_quota
        self._enqueue = self._redis.register_script(_ENQUEUE)
        self._take = self._redis.register_script(_TAKE)
        self._usage = self._redis.register_script(_USAGE)
        self._hold = self._redis.register_script(_HOLD)

    def ping(self) -> None:
        """Readiness answers at once: one try on a fresh connection, without the work calls' retries."""
        probe = redis.Redis.from_url(
            self._url,
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 0),
            credential_provider=self._credentials,
        )
        try:
            probe.ping()
        finally:
            probe.close()

    def stream(self, task_type: TaskType, workspace_id: str) -> str:
        return f"{self.stream_prefix}:{task_type}:{workspace_id}"

    @property
    def _workspaces(self) -> str:
        """Workspaces with entries in the broker, scored by when they were last served (round-robin order)."""
        return f"{self.stream_prefix}:workspaces"

    @property
    def _doorbell(self) -> str:
        return f"{self.stream_prefix}:doorbell"

    def enqueue(self, message: RenderMessage, quota: int | None = None) -> str:
        """Add the render to its workspace's stream; `quota` (the workspace's concurrency limit) is kept with
        it, so the take script needs no other store."""
        try:
            entry_id: Any = self._enqueue(
                keys=[self.stream(message.task_type, message.workspace_id), self._workspaces, self._doorbell],
                args=[
                    GROUP,
                    message.model_dump_json(),
                    STREAM_MAX_LENGTH,
                    message.workspace_id,
                    "" if quota is None else quota,
                    DOORBELL_MAX_LENGTH,
                ],
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailable(str(exc)) from exc
        return str(entry_id)

    def set_quota(self, workspace_id: str, quota: int) -> None:
        """An operator changed the workspace's concurrency limit: applies from the next take."""
        self._redis.hset(f"{self._workspaces}:quota", workspace_id, quota)
        self._ring()

    def has_entry(self, task_type: TaskType, workspace_id: str, entry_id: str) -> bool:
        """Whether the entry is still in the stream (waiting or pending)."""
        stream = self.stream(task_type, workspace_id)
        return bool(self._redis.xrange(stream, min=entry_id, max=entry_id, count=1))

    def remove(self, task_type: TaskType, workspace_id: str, entry_id: str) -> None:
        """Drop an entry whether or not a consumer holds it (its task ended elsewhere); its slot is free."""
        stream = self.stream(task_type, workspace_id)
        pipe = self._redis.pipeline()
        pipe.xack(stream, GROUP, entry_id)
        pipe.xdel(stream, entry_id)
        pipe.xadd(self._doorbell, {"workspace": workspace_id}, maxlen=DOORBELL_MAX_LENGTH, approximate=True)
        pipe.execute(raise_on_error=False)

    def _ring(self) -> None:
        self._redis.xadd(self._doorbell, {"ring": "1"}, maxlen=DOORBELL_MAX_LENGTH, approximate=True)

    def discard_streams(self) -> int:
        """Drop every workspace's streams (entries and groups, made again on the next enqueue) and the slot holds
        of transcriptions; returns the entries dropped. For the local stack's restart, when every entry's task
        token belongs to an execution that is gone. Quota overrides and the dead-letter stream stay."""
        streams = [
            str(key)
            for task_type in TaskType
            for key in self._redis.scan_iter(match=f"{self.stream_prefix}:{task_type}:*", _type="STREAM")
        ]
        holds = [str(key) for key in self._redis.scan_iter(match=f"{self.stream_prefix}:holds:*")]
        pipe = self._redis.pipeline()
        for stream in streams:
            pipe.xlen(stream)
        pipe.delete(self._workspaces, *streams, *holds)
        *lengths, _ = pipe.execute()
        return sum(int(length) for length in lengths)

    def read(self, consumer: str, task_types: list[TaskType], block_ms: int) -> Delivery | None:
        """At most one entry, waiting up to `block_ms`: the next workspace's in round-robin order that has a
        free slot. With nothing to take, a plain XREAD on the doorbell (rung by every enqueue and every freed
        slot) is what wakes us; it delivers nothing itself."""
        delivery = self.take(consumer, task_types)
        if delivery is not None:
            return delivery
        rang: Any = self._redis.xread({self._doorbell: "$"}, count=1, block=block_ms)
        return self.take(consumer, task_types) if rang else None

    def take(self, consumer: str, task_types: list[TaskType]) -> Delivery | None:
        """One entry without waiting, or None when every workspace with work is at its quota (or none has)."""
        args: list[Any] = [self.stream_prefix, GROUP, consumer, self.default_quota, len(BROKER_TYPES)]
        result: Any = self._take(keys=[self._workspaces], args=[*args, *BROKER_TYPES, *task_types])
        if not result:
            return None
        task_type, workspace_id, entry_id, raw = result
        return self._delivery(
            TaskType(task_type), workspace_id, entry_id, {"message": raw}, times_delivered=1
        )

    def usage(self, workspace_id: str) -> Usage:
        result: Any = self._usage(keys=[], args=[self.stream_prefix, GROUP, workspace_id, *BROKER_TYPES])
        return Usage(running=int(result[0]), waiting=int(result[1]))

    def hold_slot(
        self, workspace_id: str, task_id: str, quota: int, ttl_seconds: float, *, force: bool = False
    ) -> bool:
        """A slot of the workspace's quota for work outside the streams (a transcription), if one is free, or
        renewed if the task holds one (`force`: whatever the quota). It expires after `ttl_seconds` unless
        renewed, so a crashed holder's slot comes back by itself."""
        ttl_ms = max(int(ttl_seconds * 1000), 1)
        args: list[Any] = [
            self.stream_prefix,
            GROUP,
            workspace_id,
            quota,
            task_id,
            ttl_ms,
            "1" if force else "0",
        ]
        result: Any = self._hold(keys=[self._holds(workspace_id)], args=[*args, *BROKER_TYPES])
        return bool(result)

    def release_slot(self, workspace_id: str, task_id: str) -> None:
        """The task's work outside the streams ended: its slot is free for the next render or transcription."""
        if self._redis.zrem(self._holds(workspace_id), task_id):
            self._ring()

    def _holds(self, workspace_id: str) -> str:
        return f"{self.stream_prefix}:holds:{workspace_id}"

    def workspaces(self) -> list[str]:
        """Workspaces with entries in the broker (or that had some until the last take)."""
        return [str(w) for w in self._redis.zrange(self._workspaces, 0, -1)]

    def reclaim(self, consumer: str, task_type: TaskType, min_idle_ms: int) -> Delivery | None:
        """Take over at most one entry another consumer left idle for `min_idle_ms` (it died or hung). The
        entry kept its workspace's slot while idle: taking it over needs no free slot."""
        for workspace_id in self.workspaces():
            delivery = self._reclaim_one(consumer, task_type, workspace_id, min_idle_ms)
            if delivery is not None:
                return delivery
        return None

    def _reclaim_one(
        self, consumer: str, task_type: TaskType, workspace_id: str, min_idle_ms: int
    ) -> Delivery | None:
        stream = self.stream(task_type, workspace_id)
        try:
            result: Any = self._redis.xautoclaim(
                stream, GROUP, consumer, min_idle_ms, start_id="0-0", count=1
            )
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):
                return None  # no such stream (this workspace has no work of this type)
            raise
        for entry_id, fields in result[1]:
            if not fields:  # deleted while pending
                self._redis.xack(stream, GROUP, entry_id)
                continue
            pending = self._redis.xpending_range(stream, GROUP, min=entry_id, max=entry_id, count=1)
            times = int(pending[0]["times_delivered"]) if pending else 1
            return self._delivery(task_type, workspace_id, entry_id, fields, times_delivered=times)
        return None

    def touch(self, delivery: Delivery, consumer: str) -> None:
        """Reset the entry's idle time: the visibility heartbeat of a live worker (JUSTID: not a delivery)."""
        try:
            self._redis.xclaim(
                self.stream(delivery.task_type, delivery.workspace_id),
                GROUP,
                consumer,
                0,
                [delivery.entry_id],
                justid=True,
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise  # NOGROUP: the entry went with Redis's data; the keeper adds it again if needed

    def release(self, delivery: Delivery, consumer: str, idle_ms: int) -> None:
        """Hand an entry back on shutdown: idle at once and one delivery fewer, so the next reclaim of it does
        not count as an abandonment."""
        self._redis.xclaim(
            self.stream(delivery.task_type, delivery.workspace_id),
            GROUP,
            consumer,
            0,
            [delivery.entry_id],
            idle=idle_ms,
            retrycount=max(delivery.times_delivered - 1, 0),
            justid=True,
        )

    def ack(self, delivery: Delivery) -> None:
        self.remove(delivery.task_type, delivery.workspace_id, delivery.entry_id)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Keep an unprocessable entry for operators (`{prefix}:dead`) and take it off the work stream."""
        self._redis.xadd(
            f"{self.stream_prefix}:dead",
            {
                "stream": self.stream(delivery.task_type, delivery.workspace_id),
                "message": delivery.raw,
                "reason": reason,
            },
            maxlen=DEAD_LETTER_MAX_LENGTH,
            approximate=True,
        )
        self.ack(delivery)

    def backlog(self, task_type: TaskType) -> int:
        """Entries not yet delivered plus entries in flight, over every workspace: what autoscaling watches.
        Settled entries are deleted, so this is the streams' length."""
        pipe = self._redis.pipeline()
        for workspace_id in self.workspaces():
            pipe.xlen(self.stream(task_type, workspace_id))
        return sum(int(n) for n in pipe.execute())

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

    def report_segment(self, task_id: str, index: int, state: str) -> None:
        """One segment's progress (a small JSON document), next to its siblings'."""
        key = f"{self.stream_prefix}:segments:{task_id}"
        pipe = self._redis.pipeline()
        pipe.hset(key, str(index), state)
        pipe.expire(key, CANCEL_TTL_SECONDS)
        pipe.execute()

    def segment_states(self, task_id: str) -> dict[int, str]:
        states: Any = self._redis.hgetall(f"{self.stream_prefix}:segments:{task_id}")
        return {int(index): state for index, state in states.items()}

    @staticmethod
    def _delivery(
        task_type: TaskType, workspace_id: str, entry_id: str, fields: dict[str, str], times_delivered: int
    ) -> Delivery:
        raw = fields.get("message", "")
        where = (task_type, workspace_id, entry_id)
        try:
            message = RenderMessage.model_validate_json(raw)
        except ValidationError as exc:
            problem = f"unprocessable stream entry: {exc.errors()[0]['msg']}" if exc.errors() else str(exc)
            return Delivery(*where, None, times_delivered, raw=raw, problem=problem)
        if message.task_type is not task_type:
            problem = f"a {message.task_type} message on the {task_type} stream"
            return Delivery(*where, None, times_delivered, raw=raw, problem=problem)
        if message.workspace_id != workspace_id:
            problem = f"a message of {message.workspace_id} on the stream of {workspace_id}"
            return Delivery(*where, None, times_delivered, raw=raw, problem=problem)
        return Delivery(*where, message, times_delivered, raw=raw)
