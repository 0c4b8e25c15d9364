"""Finalize, notify and the callback-step runner over in-memory stores: which end a task gets, which webhook
events start, and which error name a step reports to Step Functions."""

from __future__ import annotations

import json

import pytest

from framelane.errors import TaskCancelled, TaskFailure, TranscriptionPending
from framelane.models import (
    CallbackMessage,
    FinalizeInput,
    NotifyMessage,
    StepError,
    Task,
    TaskErrorCode,
    TaskStatus,
    TaskType,
    WebhookDeliveryInput,
    WebhookEndpoint,
    WebhookEvent,
    utc_now,
)
from framelane.pipeline import steps
from framelane.services.context import ServiceContext
from framelane.services.finalize import finalize, task_error
from framelane.services.notify import notify
from framelane.services.webhook_delivery import deliver, retry_in_seconds
from tests.unit.fakes import fake_context, store, workflows

WS = "ws_1"


def _task(ctx: ServiceContext, status: TaskStatus, **fields: object) -> Task:
    now = utc_now()
    task = Task(
        id="task_1",
        workspace_id=WS,
        status=status,
        created_at=now,
        updated_at=now,
        task_type=TaskType.gaze_redirect,
        **fields,  # type: ignore[arg-type]
    )
    store(ctx).put_task(task)
    return task


def _finalize(ctx: ServiceContext, error: str | None, cause: str | None = None) -> WebhookEvent | None:
    step_error = StepError(Error=error, Cause=cause) if error else None
    payload = FinalizeInput(
        task_id="task_1", workspace_id=WS, task_type=TaskType.gaze_redirect, error=step_error
    )
    return finalize(ctx, payload).event


def test_a_failure_fails_the_task_once() -> None:
    ctx = fake_context()
    _task(ctx, TaskStatus.processing)
    assert _finalize(ctx, "no_face_detected", "no face") is WebhookEvent.task_failed
    task = store(ctx).tasks[WS, "task_1"]
    assert task.status is TaskStatus.failed and task.completed_at is not None
    assert task.error is not None and (task.error.code, task.error.message) == (
        TaskErrorCode.no_face_detected,
        "no face",
    )


def test_a_cancel_signal_records_no_failure_and_sends_nothing() -> None:
    ctx = fake_context()
    _task(ctx, TaskStatus.processing)
    assert _finalize(ctx, TaskCancelled.name) is None
    assert store(ctx).tasks[WS, "task_1"].status is TaskStatus.processing


def test_success_announces_only_a_completed_task() -> None:
    ctx = fake_context()
    _task(ctx, TaskStatus.completed)
    assert _finalize(ctx, None) is WebhookEvent.task_completed


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("States.Timeout", TaskErrorCode.worker_lost),
        ("States.HeartbeatTimeout", TaskErrorCode.worker_lost),
        ("source_too_long", TaskErrorCode.source_too_long),
        ("Lambda.Unknown", TaskErrorCode.internal_error),
    ],
)
def test_step_functions_errors_map_to_task_error_codes(error: str, code: TaskErrorCode) -> None:
    assert task_error(error, "why").code is code


def _endpoint(endpoint_id: str, events: list[WebhookEvent], disabled: bool = False) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=endpoint_id,
        workspace_id=WS,
        url=f"https://hooks.example/{endpoint_id}",
        events=events,
        secret="whsec_c2VjcmV0",
        created_at=utc_now(),
        disabled=disabled,
    )


def test_notify_starts_each_subscribed_endpoint_once() -> None:
    ctx = fake_context()
    _task(ctx, TaskStatus.completed)
    for endpoint in [
        _endpoint("wh_a", [WebhookEvent.task_completed]),
        _endpoint("wh_b", [WebhookEvent.task_failed]),
        _endpoint("wh_c", [WebhookEvent.task_completed], disabled=True),
    ]:
        store(ctx).put_webhook_endpoint(endpoint)
    message = NotifyMessage(task_id="task_1", workspace_id=WS, event=WebhookEvent.task_completed)
    assert notify(ctx, message) == 1
    assert notify(ctx, message) == 0  # redelivered: the terminal event is not sent twice
    ((name, body),) = workflows(ctx).deliveries
    assert name.endswith("-wh_a") and json.loads(body)["url"] == "https://hooks.example/wh_a"


def test_a_task_webhook_url_replaces_the_endpoints() -> None:
    ctx = fake_context()
    _task(ctx, TaskStatus.failed, webhook_url="https://hooks.example/own")
    store(ctx).put_webhook_endpoint(_endpoint("wh_a", [WebhookEvent.task_failed]))
    assert notify(ctx, NotifyMessage(task_id="task_1", workspace_id=WS, event=WebhookEvent.task_failed)) == 1
    ((name, body),) = workflows(ctx).deliveries
    assert name.endswith("-request") and json.loads(body)["endpoint_id"] is None


@pytest.mark.parametrize(
    ("raised", "error"),
    [
        (TaskFailure(TaskErrorCode.invalid_source, "bad"), "invalid_source"),
        (TaskCancelled("cancelled meanwhile"), "cancelled"),
        (TranscriptionPending("not yet"), "transcription_pending"),
    ],
)
def test_a_step_reports_failures_and_signals_by_name(
    monkeypatch: pytest.MonkeyPatch, raised: Exception, error: str
) -> None:
    def step(ctx: ServiceContext, message: CallbackMessage) -> None:
        raise raised

    monkeypatch.setitem(steps.CALLBACK_STEPS, "ingest", step)
    ctx = fake_context()
    steps.run_callback_step(ctx, "ingest", CallbackMessage(task_token="tok", payload={}).model_dump_json())
    ((kind, token, (name, _)),) = workflows(ctx).answers
    assert (kind, token, name) == ("fail", "tok", error)


def test_an_unexpected_error_is_redelivered_then_fails_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def step(ctx: ServiceContext, message: CallbackMessage) -> None:
        raise RuntimeError("boom")

    monkeypatch.setitem(steps.CALLBACK_STEPS, "ingest", step)
    ctx = fake_context()
    body = CallbackMessage(task_token="tok", payload={}).model_dump_json()
    with pytest.raises(RuntimeError):
        steps.run_callback_step_or_fail(ctx, "ingest", body, receive_count=1)
    assert workflows(ctx).answers == []
    steps.run_callback_step_or_fail(ctx, "ingest", body, receive_count=steps.MAX_RECEIVES)
    ((kind, _, (name, _)),) = workflows(ctx).answers
    assert (kind, name) == ("fail", "internal_error")


@pytest.mark.parametrize(
    ("attempt", "status", "expected"),
    [(1, 500, 5), (2, None, 60), (3, 503, None), (1, 410, None)],
)
def test_the_retry_decision(attempt: int, status: int | None, expected: int | None) -> None:
    assert retry_in_seconds(attempt, status, (5, 60)) == expected


def test_a_delivery_to_a_deleted_or_disabled_endpoint_gives_up_without_sending() -> None:
    ctx = fake_context()
    store(ctx).put_webhook_endpoint(_endpoint("wh_off", [WebhookEvent.task_completed], disabled=True))
    for endpoint_id in ("wh_gone", "wh_off"):
        delivery = WebhookDeliveryInput(
            workspace_id=WS,
            endpoint_id=endpoint_id,
            url="https://hooks.example/x",
            event_id="evt_1",
            body="{}",
        )
        result = deliver(ctx, delivery)
        assert (result.delivered, result.retry_in_seconds) == (False, None)
    assert store(ctx).attempts == []  # nothing was sent, so nothing was recorded
