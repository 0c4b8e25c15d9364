"""Fair scheduling and concurrency quotas in the renderer broker, on a real redis-server: round-robin across
workspaces, order kept within one, slots held by running (and abandoned) entries, freed by ACK or removal."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from framelane.adapters.redis_streams import Delivery, RedisBroker, Usage
from framelane.models import RenderMessage, TaskType

from .conftest import Stack

ALL = [t for t in TaskType if t.is_renderer]
_prefixes = itertools.count()


@pytest.fixture
def broker(stack: Stack) -> RedisBroker:
    assert stack.settings.redis_url is not None
    return RedisBroker(stack.settings.redis_url, f"flfair{next(_prefixes)}-{time.time_ns()}:tasks", 8)


def _enqueue(
    broker: RedisBroker,
    workspace: str,
    count: int,
    task_type: TaskType = TaskType.gaze_redirect,
    quota: int | None = None,
) -> list[str]:
    ids = [f"task_{workspace}_{task_type}_{i}_{time.time_ns()}" for i in range(count)]
    for task_id in ids:
        message = RenderMessage(task_id=task_id, workspace_id=workspace, task_type=task_type, task_token="t")
        broker.enqueue(message, quota=quota)
    return ids


def _take(broker: RedisBroker, consumer: str = "w1") -> Delivery:
    delivery = broker.take(consumer, ALL)
    assert delivery is not None and delivery.message is not None
    return delivery


def test_workspaces_take_turns_and_a_small_one_is_not_stuck_behind_a_big_one(broker: RedisBroker) -> None:
    big = _enqueue(broker, "ws_a", 50)
    small = _enqueue(broker, "ws_b", 2)
    served = []
    for _ in range(6):
        delivery = _take(broker)
        assert delivery.message is not None
        served.append(delivery.message.task_id)
        broker.ack(delivery)
    assert served[:4] in ([big[0], small[0], big[1], small[1]], [small[0], big[0], small[1], big[1]])
    assert served[4:] == big[2:4]


def test_order_within_a_workspace_is_kept_across_task_types(broker: RedisBroker) -> None:
    ids = []
    for task_type in [TaskType.super_resolution, TaskType.gaze_redirect, TaskType.remove_background] * 2:
        ids += _enqueue(broker, "ws_a", 1, task_type)
    taken = []
    for _ in ids:
        delivery = _take(broker)
        assert delivery.message is not None
        taken.append(delivery.message.task_id)
        broker.ack(delivery)
    assert taken == ids
    assert broker.take("w1", ALL) is None


def test_a_workspace_at_its_quota_waits_while_others_run(broker: RedisBroker) -> None:
    _enqueue(broker, "ws_a", 5, quota=2)
    others = _enqueue(broker, "ws_b", 3)
    first, second = _take(broker), _take(broker)
    assert {first.workspace_id, second.workspace_id} == {"ws_a", "ws_b"}
    third = _take(broker)
    held = [d for d in (first, second, third) if d.workspace_id == "ws_a"]
    assert len(held) == 2
    assert broker.usage("ws_a") == Usage(running=2, waiting=3)
    rest = [_take(broker) for _ in range(2)]  # only ws_b's entries are left to take
    assert all(d.workspace_id == "ws_b" for d in rest)
    assert broker.take("w1", ALL) is None  # ws_a is at its quota, ws_b has nothing waiting
    assert len(others) == 3

    broker.ack(held[0])  # a finished (or failed) render frees its slot
    freed = _take(broker)
    assert freed.workspace_id == "ws_a"
    assert broker.take("w1", ALL) is None

    assert freed.message is not None
    broker.remove(freed.task_type, "ws_a", freed.entry_id)  # a cancelled one frees it too
    assert _take(broker).workspace_id == "ws_a"


def test_an_abandoned_entry_keeps_its_slot_until_reclaimed(broker: RedisBroker) -> None:
    ids = _enqueue(broker, "ws_a", 2, quota=1)
    dead = _take(broker, "dead-worker")  # its worker dies without ACK
    assert broker.take("live", ALL) is None
    time.sleep(0.05)
    reclaimed = broker.reclaim("live", TaskType.gaze_redirect, min_idle_ms=20)
    assert reclaimed is not None and reclaimed.entry_id == dead.entry_id
    assert reclaimed.times_delivered == 2
    assert broker.usage("ws_a") == Usage(running=1, waiting=1)
    broker.ack(reclaimed)
    following = _take(broker, "live")
    assert following.message is not None and following.message.task_id == ids[1]


def test_racing_workers_never_exceed_the_quota(broker: RedisBroker) -> None:
    _enqueue(broker, "ws_a", 12, quota=3)
    taken: list[Delivery] = []
    lock = threading.Lock()

    def take(name: str) -> None:
        delivery = broker.take(name, ALL)
        if delivery is not None:
            with lock:
                taken.append(delivery)

    threads = [threading.Thread(target=take, args=(f"w{i}",)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(taken) == 3
    assert broker.usage("ws_a") == Usage(running=3, waiting=9)


def test_a_quota_change_applies_to_the_next_take(broker: RedisBroker) -> None:
    _enqueue(broker, "ws_a", 3, quota=1)
    _take(broker)
    assert broker.take("w1", ALL) is None
    broker.set_quota("ws_a", 2)
    assert _take(broker).workspace_id == "ws_a"


def test_a_worker_takes_only_its_types_and_drained_workspaces_leave_the_ring(broker: RedisBroker) -> None:
    [upscale] = _enqueue(broker, "ws_a", 1, TaskType.super_resolution)
    assert broker.take("gaze-only", [TaskType.gaze_redirect]) is None
    delivery = _take(broker, "any")
    assert delivery.message is not None and delivery.message.task_id == upscale
    assert broker.backlog(TaskType.super_resolution) == 1
    broker.ack(delivery)
    assert broker.backlog(TaskType.super_resolution) == 0
    assert broker.take("any", ALL) is None
    assert broker.workspaces() == []


def test_read_wakes_when_a_slot_frees(broker: RedisBroker) -> None:
    _enqueue(broker, "ws_a", 2, quota=1)
    running = _take(broker)
    timer = threading.Timer(0.3, broker.ack, args=(running,))
    timer.start()
    started = time.monotonic()
    delivery = broker.read("w2", ALL, block_ms=5000)
    timer.join()
    assert delivery is not None and delivery.workspace_id == "ws_a"
    assert time.monotonic() - started < 4  # woken by the freed slot, not by the end of the block


def test_transcriptions_hold_slots_of_the_same_quota(broker: RedisBroker) -> None:
    _enqueue(broker, "ws_a", 3, quota=2)
    assert broker.hold_slot("ws_a", "task_t1", 2, ttl_seconds=60)
    assert broker.hold_slot("ws_a", "task_t1", 2, ttl_seconds=60)  # a redelivered step renews its own hold
    _take(broker)
    assert broker.take("w1", ALL) is None  # one transcription + one render = the quota of two
    assert not broker.hold_slot("ws_a", "task_t2", 2, ttl_seconds=60)
    assert broker.usage("ws_a") == Usage(running=2, waiting=2)
    broker.release_slot("ws_a", "task_t1")
    assert _take(broker).workspace_id == "ws_a"
    assert broker.hold_slot("ws_a", "task_t2", 2, ttl_seconds=60, force=True)  # a poll keeps its slot
    assert broker.usage("ws_a") == Usage(running=3, waiting=1)


def test_a_hold_whose_holder_died_expires(broker: RedisBroker) -> None:
    _enqueue(broker, "ws_a", 1, quota=1)
    assert broker.hold_slot("ws_a", "task_t1", 1, ttl_seconds=0.2)
    assert broker.take("w1", ALL) is None
    time.sleep(0.3)
    assert _take(broker).workspace_id == "ws_a"
