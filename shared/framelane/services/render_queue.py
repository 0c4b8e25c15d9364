"""The render queue around the Redis broker: dispatch, and the keeper that tends what waits in it.

Redis is fast but not the source of truth: it can restart empty or fail over and lose recent writes. So every
render handed to the stream also gets a dispatch record in DynamoDB (with its task token), removed when a worker
answers the token. One periodic pass over those records, the keeper (the local stack's pollers; on AWS the
every-minute backlog Lambda):
- sends SendTaskHeartbeat for renders no worker is running, because the Render step's HeartbeatSeconds is meant
  for running work: waiting for a worker (cold start, all busy) must not look like a lost worker;
- fails a render that waited longer than `render_queue_wait_seconds` with `queue_timeout`;
- adds the entry again when the stream lost it, and drops records of tasks that ended.
Duplicates this may cause are harmless: output keys are deterministic and transitions conditional.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from framelane.adapters.redis_streams import BrokerUnavailable, RedisBroker
from framelane.errors import TaskFailure
from framelane.logs import SERVICE
from framelane.models import RenderDispatch, RenderMessage, StepOutcome, TaskErrorCode, TaskStatus, utc_now
from framelane.services.context import ServiceContext
from framelane.services.limits import workspace_concurrency

logger = Logger(service=SERVICE, child=True)

DISPATCH_RECORD_TTL_SECONDS = 8 * 24 * 3600  # past any Render step timeout: a forgotten record expires


@dataclass
class KeeperReport:
    heartbeats: int = 0
    requeued: int = 0
    expired: int = 0
    dropped: int = 0


def _broker(ctx: ServiceContext) -> RedisBroker:
    if ctx.broker is None:
        raise TaskFailure(TaskErrorCode.internal_error, "no renderer broker is configured")
    return ctx.broker


def dispatch_render(ctx: ServiceContext, message: RenderMessage) -> None:
    """XADD the render, then record it. With Redis down the record alone is kept and the keeper adds the entry,
    so a broker outage delays renders instead of failing them."""
    entry_id: str | None = None
    try:
        entry_id = _broker(ctx).enqueue(message, quota=workspace_concurrency(ctx, message.workspace_id))
    except BrokerUnavailable as exc:
        logger.warning(
            "broker unavailable: the keeper will enqueue",
            extra={"task_id": message.task_id, "error": str(exc)},
        )
    record = RenderDispatch(
        task_id=message.task_id,
        workspace_id=message.workspace_id,
        task_type=message.task_type,
        task_token=message.task_token,
        dispatched_at=utc_now(),
        entry_id=entry_id,
        segment=message.segment,
        stitch=message.stitch,
    )
    ctx.store.put_render_dispatch(record, DISPATCH_RECORD_TTL_SECONDS)


def render_answered(ctx: ServiceContext, unit_id: str) -> None:
    """A worker answered the unit's token (`RenderMessage.unit_id`): nothing waits for it any more."""
    ctx.store.delete_render_dispatch(unit_id)


def tend_render_queue(ctx: ServiceContext, now: datetime | None = None) -> KeeperReport:
    """One keeper pass over every waiting render; a record that fails is logged and retried next pass."""
    report = KeeperReport()
    broker = _broker(ctx)
    for record in ctx.store.list_render_dispatches():
        try:
            _tend(ctx, broker, record, now or utc_now(), report)
        except Exception:
            logger.exception("keeper could not tend a render", extra={"task_id": record.task_id})
    if report.requeued or report.expired:
        logger.info("render queue tended", extra=report.__dict__)
    return report


def _tend(
    ctx: ServiceContext, broker: RedisBroker, record: RenderDispatch, now: datetime, report: KeeperReport
) -> None:
    task = ctx.store.get_task(record.workspace_id, record.task_id)
    if task is None or task.status.is_terminal:
        if task is not None and task.status is TaskStatus.completed:  # its worker died before answering
            ctx.sfn.succeed(
                record.task_token, StepOutcome(task_id=task.id, status=task.status).model_dump_json()
            )
        _drop(ctx, broker, record)
        report.dropped += 1
        return
    if broker.is_leased(record.unit_id):
        return  # a worker runs it and heartbeats the step itself
    # a whole render that started shows it on the task; a segment or stitch counts from its dispatch (the
    # task is processing while sibling segments run)
    running = record.segment is None and not record.stitch and task.status is TaskStatus.processing
    waiting = (now - (task.updated_at if running else record.dispatched_at)).total_seconds()
    limit = ctx.settings.render_queue_wait_seconds
    if waiting > limit:
        logger.warning("no worker took the render in time", extra={"task_id": record.task_id})
        ctx.sfn.fail(record.task_token, "queue_timeout", f"no worker took the task within {limit:g} s")
        _drop(ctx, broker, record)
        report.expired += 1
        return
    entry_lost = record.entry_id is None or not broker.has_entry(
        record.task_type, record.workspace_id, record.entry_id
    )
    # a running task's worker may have lost its lease with the data: give its heartbeat time to set it again
    if entry_lost and (not running or waiting > ctx.settings.worker_visibility_timeout):
        if ctx.store.get_render_dispatch(record.unit_id) is None:
            return  # answered meanwhile
        entry_id = broker.enqueue(record.message(), quota=workspace_concurrency(ctx, record.workspace_id))
        if not ctx.store.set_render_entry(record.unit_id, entry_id):
            # answered between the look above and now: nothing waits for the entry, a worker would render again
            broker.remove(record.task_type, record.workspace_id, entry_id)
            return
        logger.info("render entry added again", extra={"unit": record.unit_id, "lost": record.entry_id})
        report.requeued += 1
    if not ctx.sfn.heartbeat(record.task_token):  # the step no longer waits (stopped, timed out)
        _drop(ctx, broker, record)
        report.dropped += 1
        return
    report.heartbeats += 1


def _drop(ctx: ServiceContext, broker: RedisBroker, record: RenderDispatch) -> None:
    if record.entry_id is not None:
        broker.remove(record.task_type, record.workspace_id, record.entry_id)
    ctx.store.delete_render_dispatch(record.unit_id)
