"""services.render_queue and services.notify over the in-memory stores and a fake broker: what a dispatch
records, what one keeper pass does to each waiting render, and which deliveries an event starts."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from framelane.errors import TaskFailure
from framelane.models import (
    JobOutput,
    NotifyMessage,
    RenderDispatch,
    RenderMessage,
    Task,
    TaskStatus,
    TaskType,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookEvent,
    Workspace,
    WorkspaceLimits,
    utc_now,
)
from framelane.services import render_queue
from framelane.services.context import ServiceContext
from framelane.services.notify import emit_progress, event_id, notify
from framelane.services.render_queue import (
    DISPATCH_RECORD_TTL_SECONDS,
    KeeperReport,
    dispatch_render,
    render_answered,
    tend_render_queue,
)
from tests.unit.broker_fakes import broker, brokered_context
from tests.unit.fakes import fake_context, store, workflows
from tests.unit.log_capture import record_logs

WS = "ws_1"
NOW = utc_now()


def _task(ctx: ServiceContext, status: TaskStatus, *, updated: float = 0, **fields: object) -> Task:
    task = Task(
        id="task_1",
        workspace_id=WS,
        status=status,
        created_at=NOW - timedelta(hours=2),
        updated_at=NOW - timedelta(seconds=updated),
        task_type=TaskType.gaze_redirect,
        **fields,
    )
    store(ctx).tasks[WS, task.id] = task
    return task


def _message(**fields: object) -> RenderMessage:
    return RenderMessage(
        task_id="task_1", workspace_id=WS, task_type=TaskType.gaze_redirect, task_token="tok", **fields
    )


def _dispatched(
    ctx: ServiceContext, *, waited: float, entry: bool = True, **fields: object
) -> RenderDispatch:
    message = _message(**fields)
    entry_id = broker(ctx).enqueue(message) if entry else None
    record = RenderDispatch(
        task_id=message.task_id,
        workspace_id=WS,
        task_type=message.task_type,
        task_token="tok",
        dispatched_at=NOW - timedelta(seconds=waited),
        entry_id=entry_id,
        segment=message.segment,
        stitch=message.stitch,
    )
    store(ctx).dispatches[record.unit_id] = record
    broker(ctx).enqueued.clear()
    return record


# dispatch


def test_a_dispatch_enqueues_under_the_workspace_quota_and_records_the_entry() -> None:
    ctx = brokered_context(workspace_concurrency=5)
    ttls: list[int] = []
    put = store(ctx).put_render_dispatch

    def put_render_dispatch(record: RenderDispatch, ttl_seconds: int) -> None:
        ttls.append(ttl_seconds)
        put(record, ttl_seconds)

    store(ctx).put_render_dispatch = put_render_dispatch  # type: ignore[method-assign]
    store(ctx).workspaces[WS] = Workspace(
        id=WS, name="w", created_at=NOW, signing_secret="whsec_x", limits=WorkspaceLimits(concurrency=2)
    )
    message = _message(segment=3)
    dispatch_render(ctx, message)
    assert broker(ctx).enqueued == [(message, 2)]
    record = store(ctx).dispatches["task_1"]
    assert record.entry_id == "1-0" and record.task_token == "tok" and record.segment == 3
    assert record.message() == message and (NOW - record.dispatched_at) < timedelta(minutes=1)
    assert ttls == [DISPATCH_RECORD_TTL_SECONDS] and DISPATCH_RECORD_TTL_SECONDS == 8 * 24 * 3600


def test_with_the_broker_down_the_record_alone_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = brokered_context()
    broker(ctx).down = True
    logged = record_logs(monkeypatch, render_queue)
    dispatch_render(ctx, _message(stitch=True))
    assert logged == [
        (
            "warning",
            "broker unavailable: the keeper will enqueue",
            {"task_id": "task_1", "error": "redis is down"},
        )
    ]
    record = store(ctx).dispatches["task_1"]
    assert record.entry_id is None and record.stitch


def test_without_a_broker_a_render_cannot_be_dispatched_or_tended() -> None:
    ctx = fake_context()
    with pytest.raises(TaskFailure, match="no renderer broker"):
        dispatch_render(ctx, _message())
    with pytest.raises(TaskFailure, match="no renderer broker"):
        tend_render_queue(ctx)


def test_an_answered_render_forgets_its_record() -> None:
    ctx = brokered_context()
    _dispatched(ctx, waited=0)
    render_answered(ctx, "task_1")
    assert store(ctx).dispatches == {}


# the keeper


def test_a_waiting_render_is_heartbeated(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = brokered_context()
    _task(ctx, TaskStatus.queued)
    _dispatched(ctx, waited=10)
    logged = record_logs(monkeypatch, render_queue)
    assert tend_render_queue(ctx, NOW) == KeeperReport(heartbeats=1)
    assert logged == []  # a quiet pass logs nothing
    assert "task_1" in store(ctx).dispatches and broker(ctx).enqueued == []


def test_a_leased_render_is_left_to_its_worker() -> None:
    ctx = brokered_context(render_queue_wait_seconds=5)
    _task(ctx, TaskStatus.queued)
    _dispatched(ctx, waited=10, entry=False)
    broker(ctx).leased.add("task_1")
    assert tend_render_queue(ctx, NOW) == KeeperReport()
    assert workflows(ctx).answers == [] and "task_1" in store(ctx).dispatches


@pytest.mark.parametrize("status", [TaskStatus.failed, TaskStatus.cancelled])
def test_an_ended_task_drops_its_record_and_entry(status: TaskStatus) -> None:
    ctx = brokered_context()
    _task(ctx, status)
    record = _dispatched(ctx, waited=10)
    assert tend_render_queue(ctx, NOW) == KeeperReport(dropped=1)
    assert store(ctx).dispatches == {} and broker(ctx).removed == [(record.task_type, WS, "1-0")]
    assert workflows(ctx).answers == []


def test_a_completed_task_whose_worker_died_before_answering_is_answered() -> None:
    ctx = brokered_context()
    _task(ctx, TaskStatus.completed)
    _dispatched(ctx, waited=10)
    assert tend_render_queue(ctx, NOW) == KeeperReport(dropped=1)
    ((kind, token, output),) = workflows(ctx).answers
    assert (kind, token) == ("succeed", "tok")
    assert json.loads(output) == {"task_id": "task_1", "status": "completed"}


def test_a_record_of_a_deleted_task_is_dropped() -> None:
    ctx = brokered_context()
    _dispatched(ctx, waited=10, entry=False)
    assert tend_render_queue(ctx, NOW) == KeeperReport(dropped=1)
    assert store(ctx).dispatches == {} and broker(ctx).removed == []


def test_a_render_that_waited_too_long_fails_with_queue_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = brokered_context(render_queue_wait_seconds=60)
    _task(ctx, TaskStatus.queued)
    _dispatched(ctx, waited=61)
    logged = record_logs(monkeypatch, render_queue)
    assert tend_render_queue(ctx, NOW) == KeeperReport(expired=1)
    assert logged == [
        ("warning", "no worker took the render in time", {"task_id": "task_1"}),
        ("info", "render queue tended", {"heartbeats": 0, "requeued": 0, "expired": 1, "dropped": 0}),
    ]
    ((kind, token, (error, cause)),) = workflows(ctx).answers
    assert (kind, token, error, cause) == (
        "fail",
        "tok",
        "queue_timeout",
        "no worker took the task within 60 s",
    )
    assert store(ctx).dispatches == {} and len(broker(ctx).removed) == 1


def test_the_wait_limit_is_inclusive() -> None:
    ctx = brokered_context(render_queue_wait_seconds=60)
    _task(ctx, TaskStatus.queued)
    _dispatched(ctx, waited=60)
    assert tend_render_queue(ctx, NOW) == KeeperReport(heartbeats=1)


def test_a_running_whole_render_counts_from_the_tasks_last_update() -> None:
    ctx = brokered_context(render_queue_wait_seconds=60)
    _task(ctx, TaskStatus.processing, updated=30)
    _dispatched(ctx, waited=600)  # dispatched long ago, but it started 30 s ago
    assert tend_render_queue(ctx, NOW) == KeeperReport(heartbeats=1)
    ctx = brokered_context(render_queue_wait_seconds=60)
    _task(ctx, TaskStatus.processing, updated=600)
    _dispatched(ctx, waited=30, segment=1)  # a segment counts from its own dispatch
    assert tend_render_queue(ctx, NOW) == KeeperReport(heartbeats=1)
    ctx = brokered_context(render_queue_wait_seconds=60)
    _task(ctx, TaskStatus.processing, updated=30)
    _dispatched(ctx, waited=600, stitch=True)
    assert tend_render_queue(ctx, NOW) == KeeperReport(expired=1)


def test_a_lost_entry_is_added_again_with_the_workspace_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = brokered_context(workspace_concurrency=3)
    _task(ctx, TaskStatus.queued)
    record = _dispatched(ctx, waited=10)
    broker(ctx).entries.clear()  # Redis restarted empty
    logged = record_logs(monkeypatch, render_queue)
    assert tend_render_queue(ctx, NOW) == KeeperReport(heartbeats=1, requeued=1)
    assert logged == [
        ("info", "render entry added again", {"unit": "task_1", "lost": "1-0"}),
        ("info", "render queue tended", {"heartbeats": 1, "requeued": 1, "expired": 0, "dropped": 0}),
    ]
    assert broker(ctx).enqueued == [(record.message(), 3)]
    assert store(ctx).dispatches["task_1"].entry_id == "1-0"


def test_a_render_never_enqueued_is_enqueued_by_the_keeper() -> None:
    ctx = brokered_context()
    _task(ctx, TaskStatus.queued)
    _dispatched(ctx, waited=10, entry=False)
    assert tend_render_queue(ctx, NOW).requeued == 1 and len(broker(ctx).enqueued) == 1


def test_a_running_renders_lost_entry_waits_for_its_workers_heartbeat() -> None:
    ctx = brokered_context(worker_visibility_timeout=60)
    _task(ctx, TaskStatus.processing, updated=60)
    _dispatched(ctx, waited=600, entry=False)
    assert tend_render_queue(ctx, NOW) == KeeperReport(heartbeats=1)
    _task(ctx, TaskStatus.processing, updated=61)
    assert tend_render_queue(ctx, NOW) == KeeperReport(heartbeats=1, requeued=1)


def test_a_render_answered_during_the_pass_is_not_enqueued_again() -> None:
    ctx = brokered_context()
    _task(ctx, TaskStatus.queued)
    record = _dispatched(ctx, waited=10, entry=False)
    store(ctx).list_render_dispatches = lambda: [record]  # type: ignore[method-assign]
    store(ctx).dispatches.clear()
    assert tend_render_queue(ctx, NOW) == KeeperReport()
    assert broker(ctx).enqueued == []


def test_a_step_that_no_longer_waits_drops_the_render() -> None:
    ctx = brokered_context()
    _task(ctx, TaskStatus.queued)
    _dispatched(ctx, waited=10)
    workflows(ctx).heartbeat = lambda token: False  # type: ignore[method-assign]
    assert tend_render_queue(ctx, NOW) == KeeperReport(dropped=1)
    assert store(ctx).dispatches == {}


def test_one_failing_record_does_not_stop_the_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = brokered_context()
    _task(ctx, TaskStatus.queued)
    _dispatched(ctx, waited=10)
    broken = RenderDispatch(
        task_id="task_2",
        workspace_id=WS,
        task_type=TaskType.gaze_redirect,
        task_token="t2",
        dispatched_at=NOW,
    )
    records = [broken, store(ctx).dispatches["task_1"]]
    store(ctx).list_render_dispatches = lambda: records  # type: ignore[method-assign]
    original = store(ctx).get_task

    def get_task(workspace_id: str, task_id: str) -> Task | None:
        if task_id == "task_2":
            raise RuntimeError("throttled")
        return original(workspace_id, task_id)

    store(ctx).get_task = get_task  # type: ignore[method-assign]
    logged = record_logs(monkeypatch, render_queue)
    assert tend_render_queue(ctx, NOW) == KeeperReport(heartbeats=1)
    assert logged == [("exception", "keeper could not tend a render", {"task_id": "task_2"})]


# notify


def _endpoint(endpoint_id: str, events: list[WebhookEvent]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=endpoint_id,
        workspace_id=WS,
        url=f"https://hooks.example/{endpoint_id}",
        events=events,
        secret="whsec_c2VjcmV0",
        created_at=NOW,
    )


def test_terminal_event_ids_derive_from_the_task_and_progress_ids_are_new() -> None:
    expected = "evt_" + hashlib.sha256(b"task_1:task.completed").hexdigest()[:26]
    assert event_id("task_1", WebhookEvent.task_completed) == expected
    assert event_id("task_1", WebhookEvent.task_failed) != expected
    first, second = (event_id("task_1", WebhookEvent.task_progress) for _ in range(2))
    assert first.startswith("evt_") and first != second


def test_notify_sends_the_presented_task_to_each_destination() -> None:
    ctx = fake_context()
    _task(
        ctx, TaskStatus.completed, output_key="outputs/ws_1/task_1/output.mp4", output=JobOutput(url="s3://k")
    )
    store(ctx).put_webhook_endpoint(_endpoint("wh_a", [WebhookEvent.task_completed]))
    store(ctx).put_webhook_endpoint(
        _endpoint("wh_b", [WebhookEvent.task_completed, WebhookEvent.task_failed])
    )
    assert (
        notify(ctx, NotifyMessage(task_id="task_1", workspace_id=WS, event=WebhookEvent.task_completed)) == 2
    )
    evt = event_id("task_1", WebhookEvent.task_completed)
    assert [name for name, _ in workflows(ctx).deliveries] == [f"{evt}-wh_a", f"{evt}-wh_b"]
    delivery = json.loads(workflows(ctx).deliveries[1][1])
    assert delivery["workspace_id"] == WS and delivery["event_id"] == evt and delivery["attempt"] == 1
    assert delivery["endpoint_id"] == "wh_b"  # the delivery reads that endpoint's secret
    body = json.loads(delivery["body"])
    assert (body["type"], body["id"], body["data"]["id"]) == ("task.completed", evt, "task_1")
    assert body["data"]["output"]["url"] == ctx.blobs.presigned_get(
        "outputs/ws_1/task_1/output.mp4", expires_in=ctx.settings.output_url_ttl_seconds
    )  # presented: a signed link, never the stored s3:// URL
    assert store(ctx).deliveries == {(WS, f"{evt}-wh_a"), (WS, f"{evt}-wh_b")}


def test_notify_for_a_missing_task_or_no_subscriber_starts_nothing() -> None:
    ctx = fake_context()
    message = NotifyMessage(task_id="task_1", workspace_id=WS, event=WebhookEvent.task_failed)
    assert notify(ctx, message) == 0
    _task(ctx, TaskStatus.failed)
    store(ctx).put_webhook_endpoint(_endpoint("wh_a", [WebhookEvent.task_completed]))
    assert notify(ctx, message) == 0 and workflows(ctx).deliveries == []


def test_progress_events_are_sent_every_time_and_not_recorded() -> None:
    ctx = fake_context()
    _task(ctx, TaskStatus.processing)
    store(ctx).put_webhook_endpoint(_endpoint("wh_a", [WebhookEvent.task_progress]))
    message = NotifyMessage(task_id="task_1", workspace_id=WS, event=WebhookEvent.task_progress)
    assert notify(ctx, message) == notify(ctx, message) == 1
    assert store(ctx).deliveries == set() and len(workflows(ctx).deliveries) == 2


def _attempt(
    endpoint_id: str | None, attempt: int, status: int | None, delivered: bool = False
) -> WebhookAttempt:
    return WebhookAttempt(
        workspace_id=WS,
        event_id=event_id("task_1", WebhookEvent.task_failed),
        endpoint_id=endpoint_id,
        url="https://hooks.example/x",
        attempt=attempt,
        status_code=status,
        error=None,
        delivered=delivered,
        attempted_at=NOW,
    )


def test_a_restart_resumes_each_interrupted_delivery_at_its_next_attempt() -> None:
    ctx = fake_context(webhook_retry_schedule="5,60")
    _task(ctx, TaskStatus.failed)
    for endpoint_id in ("wh_a", "wh_b", "wh_c", "wh_d", "wh_e"):
        store(ctx).put_webhook_endpoint(_endpoint(endpoint_id, [WebhookEvent.task_failed]))
    message = NotifyMessage(task_id="task_1", workspace_id=WS, event=WebhookEvent.task_failed)
    assert notify(ctx, message) == 5
    store(ctx).attempts.extend(
        [
            _attempt("wh_a", 1, 500),
            _attempt("wh_a", 2, None),  # → attempt 3
            _attempt("wh_b", 1, 200, delivered=True),  # done
            _attempt("wh_c", 1, 410),  # gone: given up
            _attempt("wh_d", 3, 500),  # past the schedule: given up
            # wh_e started and never attempted → attempt 1
        ]
    )
    workflows(ctx).deliveries.clear()
    assert notify(ctx, message) == 0  # an ordinary redelivery starts nothing twice
    assert notify(ctx, message, resume_started=True) == 2
    resumed = {
        name.rsplit("-", 1)[1]: json.loads(body)["attempt"] for name, body in workflows(ctx).deliveries
    }
    assert resumed == {"wh_a": 3, "wh_e": 1}


def test_progress_is_throttled_per_task_across_workers() -> None:
    ctx = brokered_context(progress_event_interval=7.5)
    _task(ctx, TaskStatus.processing)
    store(ctx).put_webhook_endpoint(_endpoint("wh_a", [WebhookEvent.task_progress]))
    assert emit_progress(ctx, WS, "task_1")
    assert broker(ctx).throttles == [("progress:task_1", 7.5)] and len(workflows(ctx).deliveries) == 1
    broker(ctx).throttle_open = False
    assert not emit_progress(ctx, WS, "task_1") and len(workflows(ctx).deliveries) == 1
    assert not emit_progress(fake_context(), WS, "task_1")


def _segments(ctx: ServiceContext, *, waited: float, entry: bool = True) -> None:
    """Two segments of task_1 waiting in the same pass (the keeper's counts must add up)."""
    for index in (0, 1):
        _dispatched(ctx, waited=waited, entry=entry, segment=index)


def test_a_pass_counts_every_record_it_handles() -> None:
    ctx = brokered_context(render_queue_wait_seconds=100)
    _task(ctx, TaskStatus.queued)
    tokens: list[str] = []
    workflows(ctx).heartbeat = lambda token: tokens.append(token) or True  # type: ignore[method-assign,func-returns-value]
    _segments(ctx, waited=10, entry=False)
    assert tend_render_queue(ctx, NOW) == KeeperReport(heartbeats=2, requeued=2)
    assert tokens == ["tok", "tok"]
    assert all(record.entry_id is not None for record in store(ctx).dispatches.values())
    workflows(ctx).heartbeat = lambda token: False  # type: ignore[method-assign]
    assert tend_render_queue(ctx, NOW) == KeeperReport(dropped=2)
    _segments(ctx, waited=101)
    assert tend_render_queue(ctx, NOW) == KeeperReport(expired=2)
    _segments(ctx, waited=10)
    _task(ctx, TaskStatus.failed)
    assert tend_render_queue(ctx, NOW) == KeeperReport(dropped=2)


def test_a_lost_entry_is_added_again_under_the_workspaces_own_quota() -> None:
    ctx = brokered_context(workspace_concurrency=3)
    workspace = Workspace(
        id=WS, name="w", created_at=NOW, signing_secret="whsec_x", limits=WorkspaceLimits(concurrency=7)
    )
    store(ctx).workspaces[WS] = workspace
    _task(ctx, TaskStatus.queued)
    _dispatched(ctx, waited=10, entry=False)
    tend_render_queue(ctx, NOW)
    assert [quota for _, quota in broker(ctx).enqueued] == [7]
