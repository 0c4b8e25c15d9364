"""Notify: turn a task event into one webhook delivery execution per destination."""

from __future__ import annotations

import hashlib

from framelane.ids import new_id
from framelane.models import (
    NotifyMessage,
    WebhookAttempt,
    WebhookDeliveryInput,
    WebhookEvent,
    WebhookPayload,
    utc_now,
)
from framelane.services.context import ServiceContext
from framelane.services.task_state import present


def event_id(task_id: str, event: WebhookEvent) -> str:
    """Terminal events get an id derived from the task, so a repeated Notify starts no second delivery."""
    if event is WebhookEvent.task_progress:
        return new_id("evt")
    return "evt_" + hashlib.sha256(f"{task_id}:{event}".encode()).hexdigest()[:26]


def notify(ctx: ServiceContext, message: NotifyMessage, *, resume_started: bool = False) -> int:
    """Start deliveries; the per-request webhook_url overrides workspace endpoints. Returns how many started.

    A terminal event is recorded per destination, and only once its delivery has started: a Notify that
    fails midway is redelivered and starts the destinations it missed, none twice (the execution name is
    the delivery id too, so even a start whose record was lost is not repeated).

    `resume_started` is for the local stack's restart, whose delivery executions are gone: a started delivery
    that was neither delivered nor given up is started again at its next attempt (same webhook-id).
    """
    task = ctx.store.get_task(message.workspace_id, message.task_id)
    if task is None:
        return 0
    if task.webhook_url:
        destinations: list[tuple[str | None, str]] = [(None, task.webhook_url)]
    else:
        destinations = [
            (endpoint.id, endpoint.url)
            for endpoint in ctx.store.list_webhook_endpoints(message.workspace_id)
            if message.event in endpoint.events and not endpoint.disabled
        ]
    if not destinations:
        return 0
    payload = WebhookPayload(
        type=message.event, id=event_id(task.id, message.event), created_at=utc_now(), data=present(ctx, task)
    )
    terminal = message.event is not WebhookEvent.task_progress
    body = payload.model_dump_json()
    attempts = ctx.store.event_attempts(task.workspace_id, payload.id) if resume_started else []
    started = 0
    for endpoint_id, url in destinations:
        delivery_id = f"{payload.id}-{endpoint_id or 'request'}"
        attempt: int | None = 1
        if terminal and ctx.store.delivery_started(task.workspace_id, delivery_id):
            mine = [a for a in attempts if a.endpoint_id == endpoint_id]
            attempt = _next_attempt(ctx, mine) if resume_started else None
            if attempt is None:
                continue
        delivery = WebhookDeliveryInput(
            workspace_id=message.workspace_id,
            endpoint_id=endpoint_id,
            url=url,
            event_id=payload.id,
            body=body,
            attempt=attempt,
        )
        ctx.sfn.start_webhook_delivery(delivery_id, delivery.model_dump_json())
        if terminal:
            ctx.store.record_delivery_started(task.workspace_id, delivery_id)
        started += 1
    return started


def _next_attempt(ctx: ServiceContext, attempts: list[WebhookAttempt]) -> int | None:
    """The attempt an interrupted delivery goes on with; None when it was delivered or given up."""
    last = max((a.attempt for a in attempts), default=0)
    if any(a.delivered or a.status_code == 410 for a in attempts) or last > len(
        ctx.settings.webhook_retry_schedule
    ):
        return None
    return last + 1


def emit_progress(ctx: ServiceContext, workspace_id: str, task_id: str) -> bool:
    """task.progress, at most once per task per `progress_event_interval` across all workers (Redis SET NX)."""
    if ctx.broker is None or not ctx.broker.acquire_throttle(
        f"progress:{task_id}", ctx.settings.progress_event_interval
    ):
        return False
    notify(ctx, NotifyMessage(task_id=task_id, workspace_id=workspace_id, event=WebhookEvent.task_progress))
    return True
