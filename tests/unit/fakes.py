"""In-memory stand-ins for the stores behind framelane.services.ports, so services run in unit tests without
servers. They keep the adapters' contracts that services rely on (conditional writes lose with
ConditionFailed, newest-first listings, idempotency claims), and nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from framelane.adapters.dynamodb import ConditionFailed, IdempotencyRecord, Key
from framelane.config import Settings
from framelane.models import (
    ApiKeyRecord,
    RenderDispatch,
    Task,
    TaskExecutionInput,
    TaskStatus,
    TaskType,
    WebhookAttempt,
    WebhookEndpoint,
    Workspace,
    WorkspaceLimits,
)
from framelane.security.outbound import OutboundPolicy
from framelane.services.context import ServiceContext


class FakeStore:
    table_name = "fake-table"

    def __init__(self) -> None:
        self.tasks: dict[tuple[str, str], Task] = {}
        self.workspaces: dict[str, Workspace] = {}
        self.api_keys: dict[str, ApiKeyRecord] = {}
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.endpoints: dict[tuple[str, str], WebhookEndpoint] = {}
        self.deliveries: set[tuple[str, str]] = set()
        self.attempts: list[WebhookAttempt] = []
        self.dispatches: dict[str, RenderDispatch] = {}

    def create_table(self) -> None:
        pass

    def ping(self) -> None:
        pass

    # tasks
    def put_task(self, task: Task) -> None:
        if (task.workspace_id, task.id) in self.tasks:
            raise ConditionFailed(f"task {task.id} exists")
        self.tasks[task.workspace_id, task.id] = task

    def get_task(self, workspace_id: str, task_id: str) -> Task | None:
        return self.tasks.get((workspace_id, task_id))

    def query_tasks(
        self,
        workspace_id: str,
        *,
        task_type: TaskType | None,
        status: TaskStatus | None,
        limit: int,
        start_key: Key | None,
    ) -> tuple[list[Task], bool]:
        tasks = sorted(
            (
                task
                for (ws, _), task in self.tasks.items()
                if ws == workspace_id
                and (task_type is None or task.task_type is task_type)
                and (status is None or task.status is status)
                and (start_key is None or task.id < start_key["after"])
            ),
            key=lambda task: task.id,
            reverse=True,
        )
        return tasks[:limit], len(tasks) > limit

    def task_page_key(self, task: Task, *, task_type: TaskType | None, status: TaskStatus | None) -> Key:
        return {"after": task.id}

    def scan_tasks(self) -> Iterator[Task]:
        return iter(list(self.tasks.values()))

    def transition_task(self, to: Task, changed: set[str], *, from_statuses: set[TaskStatus]) -> Task:
        stored = self.tasks.get((to.workspace_id, to.id))
        if stored is None or stored.status not in from_statuses:
            raise ConditionFailed(f"task {to.id} is not in {sorted(from_statuses)}")
        updated = stored.model_copy(update={name: getattr(to, name) for name in changed})
        self.tasks[to.workspace_id, to.id] = updated
        return updated

    # idempotency
    def claim_idempotency_key(
        self, record: IdempotencyRecord, now: int
    ) -> tuple[IdempotencyRecord | None, IdempotencyRecord | None]:
        key = (record.workspace_id, record.key)
        held = self.idempotency.get(key)
        free = (
            held is None
            or held.expires_at_epoch < now
            or (held.state == "in_progress" and held.locked_until < now)
        )
        if not free:
            return held, None
        self.idempotency[key] = record
        return None, held

    def _ours(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        held = self.idempotency.get((record.workspace_id, record.key))
        return held if held is not None and held.lock_token == record.lock_token else None

    def complete_idempotency_key(self, record: IdempotencyRecord, task_id: str) -> None:
        held = self._ours(record)
        if held is None:
            raise ConditionFailed("taken over")
        self.idempotency[record.workspace_id, record.key] = replace(
            held, state="completed", task_id=task_id, lock_token=None
        )

    def unlock_idempotency_key(self, record: IdempotencyRecord) -> None:
        held = self._ours(record)
        if held is not None:
            self.idempotency[record.workspace_id, record.key] = replace(held, locked_until=0)

    def release_idempotency_key(self, record: IdempotencyRecord) -> None:
        if self._ours(record) is not None:
            del self.idempotency[record.workspace_id, record.key]

    # workspaces and keys
    def put_workspace(self, workspace: Workspace, api_key: ApiKeyRecord) -> None:
        self.workspaces[workspace.id] = workspace
        self.api_keys[api_key.key_hash] = api_key

    def get_workspace(self, workspace_id: str) -> Workspace | None:
        return self.workspaces.get(workspace_id)

    def set_workspace_limits(self, workspace_id: str, limits: WorkspaceLimits) -> bool:
        workspace = self.workspaces.get(workspace_id)
        if workspace is None:
            return False
        self.workspaces[workspace_id] = workspace.model_copy(update={"limits": limits})
        return True

    def put_api_key(self, api_key: ApiKeyRecord) -> None:
        self.api_keys[api_key.key_hash] = api_key

    def get_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        return self.api_keys.get(key_hash)

    def delete_api_key(self, key_hash: str) -> bool:
        return self.api_keys.pop(key_hash, None) is not None

    # webhooks
    def put_webhook_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self.endpoints[endpoint.workspace_id, endpoint.id] = endpoint

    def get_webhook_endpoint(self, workspace_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return self.endpoints.get((workspace_id, endpoint_id))

    def list_webhook_endpoints(self, workspace_id: str) -> list[WebhookEndpoint]:
        return [e for (ws, _), e in sorted(self.endpoints.items()) if ws == workspace_id]

    def disable_webhook_endpoint(self, workspace_id: str, endpoint_id: str) -> None:
        endpoint = self.endpoints.get((workspace_id, endpoint_id))
        if endpoint is not None:
            self.endpoints[workspace_id, endpoint_id] = endpoint.model_copy(update={"disabled": True})

    def delete_webhook_endpoint(self, workspace_id: str, endpoint_id: str) -> bool:
        return self.endpoints.pop((workspace_id, endpoint_id), None) is not None

    def delivery_started(self, workspace_id: str, delivery_id: str) -> bool:
        return (workspace_id, delivery_id) in self.deliveries

    def record_delivery_started(self, workspace_id: str, delivery_id: str, ttl_seconds: int = 0) -> None:
        self.deliveries.add((workspace_id, delivery_id))

    def record_webhook_attempt(self, attempt: WebhookAttempt) -> None:
        self.attempts.append(attempt)

    def event_attempts(self, workspace_id: str, event_id: str) -> list[WebhookAttempt]:
        return [a for a in self.attempts if a.workspace_id == workspace_id and a.event_id == event_id]

    def query_endpoint_attempts(
        self, workspace_id: str, endpoint_id: str, *, limit: int, start_key: Key | None
    ) -> tuple[list[WebhookAttempt], Key | None]:
        found = [a for a in reversed(self.attempts) if a.endpoint_id == endpoint_id]
        start = int(start_key["offset"]) if start_key else 0
        page = found[start : start + limit]
        more = len(found) > start + limit
        return page, ({"offset": str(start + limit)} if more else None)

    # render dispatch records
    def put_render_dispatch(self, record: RenderDispatch, ttl_seconds: int) -> None:
        self.dispatches[record.task_id] = record

    def set_render_entry(self, task_id: str, entry_id: str) -> bool:
        record = self.dispatches.get(task_id)
        if record is None:
            return False
        self.dispatches[task_id] = record.model_copy(update={"entry_id": entry_id})
        return True

    def get_render_dispatch(self, task_id: str) -> RenderDispatch | None:
        return self.dispatches.get(task_id)

    def list_render_dispatches(self) -> list[RenderDispatch]:
        return list(self.dispatches.values())

    def delete_render_dispatch(self, task_id: str) -> None:
        self.dispatches.pop(task_id, None)


class FakeBlobs:
    def __init__(self, bucket: str = "fake-bucket") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.metadata: dict[str, dict[str, str]] = {}

    def create_bucket(self) -> None:
        pass

    def allow_browser_access(self, origins: list[str]) -> None:
        pass

    def notify_queue_on_uploads(self, queue_arn: str, prefix: str) -> None:
        pass

    def ping(self) -> None:
        pass

    def presigned_put(
        self, key: str, *, expires_in: int, content_type: str | None, metadata: dict[str, str] | None = None
    ) -> str:
        return f"https://blobs.invalid/{self.bucket}/{key}?put&expires={expires_in}"

    def presigned_get(self, key: str, *, expires_in: int) -> str:
        return f"https://blobs.invalid/{self.bucket}/{key}?expires={expires_in}"

    def upload_file(self, path: str, key: str, content_type: str | None = None) -> int:
        with open(path, "rb") as file:
            self.objects[key] = file.read()
        return len(self.objects[key])

    def download_file(self, key: str, path: str) -> None:
        with open(path, "wb") as file:
            file.write(self.objects[key])

    def size(self, key: str) -> int:
        return len(self.objects[key])

    def exists(self, key: str) -> bool:
        return key in self.objects

    def object_metadata(self, key: str) -> dict[str, str]:
        return self.metadata.get(key, {})

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.objects[key] = data

    def get_bytes(self, key: str) -> bytes:
        return self.objects[key]

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)
            self.metadata.pop(key, None)


@dataclass
class FakeWorkflows:
    """Records every start and every token answer, in order."""

    started: list[TaskExecutionInput] = field(default_factory=list)
    deliveries: list[tuple[str, str]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    answers: list[tuple[str, str, Any]] = field(default_factory=list)
    fail_starts: bool = False

    def create_state_machine(self, name: str, definition: dict[str, object], role_arn: str) -> str:
        return f"arn:aws:states:us-east-1:000000000000:stateMachine:{name}"

    def start_task(self, payload: TaskExecutionInput) -> None:
        if self.fail_starts:
            raise RuntimeError("Step Functions is unavailable")
        self.started.append(payload)

    def start_webhook_delivery(self, name: str, payload_json: str) -> None:
        self.deliveries.append((name, payload_json))

    def stop_task(self, task_id: str, cause: str) -> None:
        self.stopped.append(task_id)

    def succeed(self, token: str, output: str) -> bool:
        self.answers.append(("succeed", token, output))
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        self.answers.append(("fail", token, (str(error), cause)))
        return True

    def heartbeat(self, token: str) -> bool:
        return True


def fake_context(**settings: Any) -> ServiceContext:
    """A ServiceContext over fresh fakes; `settings` override Settings fields. No broker, no queues."""
    config = Settings(**settings)
    ctx = ServiceContext(
        settings=config,
        store=FakeStore(),
        blobs=FakeBlobs(),
        outbound=OutboundPolicy.from_settings(config),
        sfn=FakeWorkflows(),
        queues=None,
    )
    ctx.__dict__["broker"] = None  # the cached property would build a Redis client from the settings
    return ctx


def store(ctx: ServiceContext) -> FakeStore:
    assert isinstance(ctx.store, FakeStore)
    return ctx.store


def workflows(ctx: ServiceContext) -> FakeWorkflows:
    assert isinstance(ctx.sfn, FakeWorkflows)
    return ctx.sfn
