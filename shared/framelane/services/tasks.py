"""Task lifecycle as the API sees it: create (idempotent), read, list, cancel, hand off to the pipeline."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from framelane.adapters.dynamodb import IdempotencyRecord
from framelane.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
    TaskNotCancellable,
)
from framelane.ids import new_task_id
from framelane.models import (
    JobError,
    JobOut,
    Task,
    TaskErrorCode,
    TaskExecutionInput,
    TaskPage,
    TaskRequestBase,
    TaskStatus,
    TaskType,
    Workspace,
    utc_now,
)
from framelane.security.outbound import BlockedAddress
from framelane.services.context import ServiceContext
from framelane.services.cursor import decode_cursor, encode_cursor
from framelane.services.fingerprint import request_fingerprint
from framelane.services.task_state import LIVE, present, transition
from framelane.services.uploads import upload_prefix

MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class CreateResult:
    task: JobOut
    replayed: bool


def validate_source(ctx: ServiceContext, workspace: Workspace, request: TaskRequestBase) -> None:
    """Refuse sources no fetch may ever read: another tenant's objects and blocked IP literals."""
    source = urlsplit(request.source_url)
    if source.scheme == "s3":
        own_prefix = upload_prefix(workspace.id)
        if source.netloc != ctx.blobs.bucket or not source.path.lstrip("/").startswith(own_prefix):
            raise InvalidRequest(
                f"s3:// sources must be uploads of this workspace (s3://{ctx.blobs.bucket}/{own_prefix}…); "
                "create one with POST /v1/uploads"
            )
    for field_name, url in (("source_url", request.source_url), ("webhook_url", request.webhook_url)):
        host = urlsplit(url).hostname if url else None
        if host and urlsplit(url).scheme != "s3":
            _check_host(ctx, field_name, host)


def _check_host(ctx: ServiceContext, field_name: str, host: str) -> None:
    try:
        ctx.outbound.check_host_literal(host)
    except BlockedAddress as exc:
        raise InvalidRequest(f"{field_name}: {exc}") from exc


def create_task(
    ctx: ServiceContext,
    workspace: Workspace,
    task_type: TaskType,
    request: TaskRequestBase,
    idempotency_key: str | None,
) -> CreateResult:
    validate_source(ctx, workspace, request)
    if idempotency_key is None:
        task = _new_task(workspace, task_type, request, None)
        ctx.store.put_task(task)
        try:
            hand_off_to_pipeline(ctx, task)
        except Exception as exc:
            # nothing will ever run it: say so on the task, and to the caller
            not_started = JobError(code=TaskErrorCode.internal_error, message="the task could not be started")
            transition(ctx, task, LIVE, status=TaskStatus.failed, error=not_started)
            raise _not_started(task) from exc
        return CreateResult(present(ctx, task), replayed=False)
    return _create_idempotent(ctx, workspace, task_type, request, idempotency_key)


def _create_idempotent(
    ctx: ServiceContext, workspace: Workspace, task_type: TaskType, request: TaskRequestBase, key: str
) -> CreateResult:
    """Conditional writes only: claim the key (naming the task id up front), store the task, start its state
    machine, complete the claim.

    A crash after the task is stored leaves the claim in progress; once its lock lapses, the client's retry
    takes the key over, finds that task through the old claim and adopts it, so a key never makes two tasks.
    A failed start is answered with an error and lapses the lock at once: the retry adopts the task and
    starts it (starting is idempotent: the execution is named after the task). The claim is completed only
    once the task runs, so a replay never returns a task that will not start.
    """
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidRequest(f"Idempotency-Key must be 1..{MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    now = int(time.time())
    task = _new_task(workspace, task_type, request, key)
    claim = IdempotencyRecord(
        workspace_id=workspace.id,
        key=key,
        state="in_progress",
        fingerprint=request_fingerprint(f"create_task:{task_type}", request),
        lock_token=secrets.token_hex(16),
        locked_until=now + ctx.settings.idempotency_lock_seconds,
        expires_at_epoch=now + ctx.settings.idempotency_ttl_seconds,
        task_id=task.id,
    )
    holder, previous = ctx.store.claim_idempotency_key(claim, now)
    if holder is not None:
        return _answer_held_key(ctx, workspace, claim, holder)
    orphan = _orphaned_task(ctx, workspace, claim, previous)
    if orphan is not None:
        task = orphan
    else:
        try:
            ctx.store.put_task(task)
        except BaseException:
            ctx.store.release_idempotency_key(claim)
            raise
    try:
        hand_off_to_pipeline(ctx, task)
    except Exception as exc:
        ctx.store.unlock_idempotency_key(claim)
        raise _not_started(task) from exc
    ctx.store.complete_idempotency_key(claim, task.id)
    return CreateResult(present(ctx, task), replayed=False)


def _not_started(task: Task) -> ServiceUnavailable:
    return ServiceUnavailable(f"task {task.id} could not be started; retry the request")


def _answer_held_key(
    ctx: ServiceContext, workspace: Workspace, claim: IdempotencyRecord, holder: IdempotencyRecord
) -> CreateResult:
    if holder.fingerprint != claim.fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different request body")
    if holder.state == "in_progress" or holder.task_id is None:
        raise IdempotencyInProgress("a request with this Idempotency-Key is still being processed")
    replay = ctx.store.get_task(workspace.id, holder.task_id)
    if replay is None:
        raise NotFound(f"task {holder.task_id} no longer exists")
    return CreateResult(present(ctx, replay), replayed=True)


def _orphaned_task(
    ctx: ServiceContext, workspace: Workspace, claim: IdempotencyRecord, previous: IdempotencyRecord | None
) -> Task | None:
    """The task a crashed request with the same key and body stored before it could complete its claim."""
    if previous is None or previous.state != "in_progress" or previous.fingerprint != claim.fingerprint:
        return None
    return ctx.store.get_task(workspace.id, previous.task_id) if previous.task_id else None


def _new_task(workspace: Workspace, task_type: TaskType, request: TaskRequestBase, key: str | None) -> Task:
    now = utc_now()
    is_upload = urlsplit(request.source_url).scheme == "s3"
    return Task(
        id=new_task_id(),
        workspace_id=workspace.id,
        status=TaskStatus.queued if is_upload else TaskStatus.ingesting,
        created_at=now,
        updated_at=now,
        task_type=task_type,
        metadata=request.metadata,
        source_url=request.source_url,
        options=request.options(),
        webhook_url=request.webhook_url,
        idempotency_key=key,
    )


def hand_off_to_pipeline(ctx: ServiceContext, task: Task) -> None:
    """Start the task's state machine (ingest → process → finalize → notify).

    Without a configured state machine (an API-only deployment) the task stays stored in its first status.
    """
    if task.task_type is None or task.source_url is None:
        return
    ctx.sfn.start_task(
        TaskExecutionInput(
            task_id=task.id,
            workspace_id=task.workspace_id,
            task_type=task.task_type,
            source_url=task.source_url,
        )
    )


def get_task(ctx: ServiceContext, workspace: Workspace, task_id: str) -> JobOut:
    return present(ctx, _load(ctx, workspace, task_id))


def _load(ctx: ServiceContext, workspace: Workspace, task_id: str) -> Task:
    task = ctx.store.get_task(workspace.id, task_id) if task_id.startswith("task_") else None
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


def list_tasks(
    ctx: ServiceContext,
    workspace: Workspace,
    *,
    task_type: TaskType | None,
    status: TaskStatus | None,
    limit: int,
    cursor: str | None,
) -> TaskPage:
    filters = {"type": task_type.value if task_type else None, "status": status.value if status else None}
    secret = ctx.settings.cursor_secret
    start_key = (
        decode_cursor(cursor, workspace_id=workspace.id, filters=filters, secret=secret) if cursor else None
    )
    tasks, has_more = ctx.store.query_tasks(
        workspace.id, task_type=task_type, status=status, limit=limit, start_key=start_key
    )
    next_cursor = None
    if has_more:
        position = ctx.store.task_page_key(tasks[-1], task_type=task_type, status=status)
        next_cursor = encode_cursor(position, workspace_id=workspace.id, filters=filters, secret=secret)
    return TaskPage(data=[present(ctx, task) for task in tasks], next_cursor=next_cursor, has_more=has_more)


def cancel_task(ctx: ServiceContext, workspace: Workspace, task_id: str) -> JobOut:
    """Cancel a non-terminal task. A conditional write, so a task that completes meanwhile is never undone."""
    task = _load(ctx, workspace, task_id)
    if task.status.is_terminal:
        raise TaskNotCancellable(f"task {task_id} is already {task.status}")
    cancelled = transition(ctx, task, LIVE, status=TaskStatus.cancelled)
    if cancelled is None:
        current = _load(ctx, workspace, task_id)
        raise TaskNotCancellable(f"task {task_id} is already {current.status}")
    stop_processing(ctx, cancelled)
    return present(ctx, cancelled)


def stop_processing(ctx: ServiceContext, task: Task) -> None:
    """Tell the pipeline: stop the execution (ingest, waits) and flag the task for workers between frames."""
    if ctx.broker is not None:
        ctx.broker.request_cancel(task.id)
    ctx.sfn.stop_task(task.id, "cancelled by the caller")
