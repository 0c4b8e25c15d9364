"""Work in flight when the local stack stopped: driven to an end by fresh executions on the next start.

Tables, objects and the render streams survive a restart, but Step Functions executions and SQS messages live in
moto's memory only, so every task token from the previous run is dead. Before any worker starts:
- the render streams and dispatch records are dropped: each entry carries a dead token, and rendering it would
  only race the new execution;
- every task still ingesting, queued or processing gets a new execution of the task state machine (the name is
  the task id, so a task is never driven twice in one run). Ingest skips a source it already copied and probed,
  the render writes the same output key, and finalize's conditional transition keeps one terminal state, so a
  resumed task ends once, with one output;
- tasks that ended shortly before the stop are notified again: `notify` starts each destination's delivery once
  (it records the start), so this only starts the webhooks the previous run never started, and goes on with those
  it started but had neither delivered nor given up (their executions were lost, mid-attempt or between retries).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from aws_lambda_powertools import Logger

from framelane.logs import SERVICE
from framelane.models import NotifyMessage, TaskStatus, WebhookEvent, utc_now
from framelane.services.context import ServiceContext
from framelane.services.notify import notify
from framelane.services.tasks import hand_off_to_pipeline

logger = Logger(service=SERVICE, child=True)

# Long enough to cover a task that ended just before the stack was stopped or killed; the deliveries it started
# are recorded, so a longer window costs a scan, never a second webhook.
RECENTLY_ENDED = timedelta(minutes=15)
_EVENTS = {TaskStatus.completed: WebhookEvent.task_completed, TaskStatus.failed: WebhookEvent.task_failed}


@dataclass
class ResumeReport:
    resumed: int = 0
    stale_entries: int = 0
    notified: int = 0


def resume_in_flight(ctx: ServiceContext) -> ResumeReport:
    report = ResumeReport()
    if ctx.broker is not None:
        report.stale_entries = ctx.broker.discard_streams()
    for record in ctx.store.list_render_dispatches():
        ctx.store.delete_render_dispatch(record.unit_id)
    recent = utc_now() - RECENTLY_ENDED
    for task in ctx.store.scan_tasks():
        if not task.status.is_terminal:
            hand_off_to_pipeline(ctx, task)
            report.resumed += 1
        elif task.status in _EVENTS and task.updated_at >= recent:
            event = _EVENTS[task.status]
            message = NotifyMessage(task_id=task.id, workspace_id=task.workspace_id, event=event)
            report.notified += notify(ctx, message, resume_started=True)
    if report.resumed or report.stale_entries or report.notified:
        logger.info("resumed work from the previous run", extra=report.__dict__)
    return report
