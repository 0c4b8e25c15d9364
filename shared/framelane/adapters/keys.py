"""The keys of the single DynamoDB table: the one place that spells `WS#…`, `TASK#…` and the index names.

    PK                      SK                                  item
    WS#{ws}                 WORKSPACE                           the workspace
    APIKEY#{sha256(key)}    APIKEY                              an API key, by hash only
    WS#{ws}                 TASK#{task_id}                      a task; ULID ids make SK order = creation order
    WS#{ws}                 WEBHOOK#{id}                        a workspace webhook endpoint
    WS#{ws}                 EVENT#{delivery_id}                 a terminal event's delivery, once started (TTL)
    WS#{ws}                 DELIVERY#{event}#{endpoint}#{n}     one webhook delivery attempt (TTL)
    IDEM#{ws}#{key}         IDEM                                an idempotency record (TTL)
    RENDERS                 TASK#{task_id}                      a render waiting on the broker (TTL)

Task filters are key conditions on sparse GSIs, never FilterExpressions, so every page is full:
GSI1 by type (WS#{ws}#TYPE#{t}), GSI2 by status (WS#{ws}#STATUS#{s}), GSI3 by both.
"""

from __future__ import annotations

from dataclasses import dataclass

from framelane.models import Task, TaskStatus, TaskType

Key = dict[str, str]

TABLE_KEY = ("PK", "SK")
TASK_INDEXES = {"GSI1": ("GSI1PK", "GSI1SK"), "GSI2": ("GSI2PK", "GSI2SK"), "GSI3": ("GSI3PK", "GSI3SK")}
TTL_ATTRIBUTE = "expires_at_epoch"  # DynamoDB deletes the item some time after this epoch second
TASK_PREFIX = "TASK#"
WEBHOOK_PREFIX = "WEBHOOK#"
DELIVERY_PREFIX = "DELIVERY#"


def _ws(workspace_id: str) -> str:
    return f"WS#{workspace_id}"


def workspace(workspace_id: str) -> Key:
    return {"PK": _ws(workspace_id), "SK": "WORKSPACE"}


def api_key(key_hash: str) -> Key:
    return {"PK": f"APIKEY#{key_hash}", "SK": "APIKEY"}


def task(workspace_id: str, task_id: str) -> Key:
    return {"PK": _ws(workspace_id), "SK": f"{TASK_PREFIX}{task_id}"}


def webhook_endpoint(workspace_id: str, endpoint_id: str) -> Key:
    return {"PK": _ws(workspace_id), "SK": f"{WEBHOOK_PREFIX}{endpoint_id}"}


def webhook_endpoints(workspace_id: str) -> Key:
    """PK and SK prefix of a workspace's webhook endpoints."""
    return {"PK": _ws(workspace_id), "SK": WEBHOOK_PREFIX}


def delivery_started(workspace_id: str, delivery_id: str) -> Key:
    return {"PK": _ws(workspace_id), "SK": f"EVENT#{delivery_id}"}


def webhook_attempt(workspace_id: str, event_id: str, endpoint_id: str | None, attempt: int) -> Key:
    """`request` stands for a task's own webhook_url (no endpoint); zero-padding keeps attempts in order."""
    return {
        "PK": _ws(workspace_id),
        "SK": f"{DELIVERY_PREFIX}{event_id}#{endpoint_id or 'request'}#{attempt:04d}",
    }


def webhook_attempts(workspace_id: str) -> Key:
    """PK and SK prefix of a workspace's delivery attempts."""
    return {"PK": _ws(workspace_id), "SK": DELIVERY_PREFIX}


def idempotency(workspace_id: str, key: str) -> Key:
    return {"PK": f"IDEM#{workspace_id}#{key}", "SK": "IDEM"}


def render_dispatch(task_id: str) -> Key:
    return {"PK": "RENDERS", "SK": f"{TASK_PREFIX}{task_id}"}


RENDER_DISPATCHES = "RENDERS"


@dataclass(frozen=True)
class TaskQuery:
    """Where a task listing reads: the index the filters select (None = the table) and its key names."""

    index: str | None
    pk_name: str
    sk_name: str
    pk_value: str


def _by_type(workspace_id: str, task_type: TaskType | None) -> str:
    return f"{_ws(workspace_id)}#TYPE#{task_type}"


def _by_status(workspace_id: str, status: TaskStatus) -> str:
    return f"{_ws(workspace_id)}#STATUS#{status}"


def _by_both(workspace_id: str, task_type: TaskType | None, status: TaskStatus) -> str:
    return f"{_ws(workspace_id)}#TYPE#{task_type}#STATUS#{status}"


def task_query(workspace_id: str, task_type: TaskType | None, status: TaskStatus | None) -> TaskQuery:
    """The one place that selects the GSI for a pair of filters."""
    if task_type and status:
        index, pk_value = "GSI3", _by_both(workspace_id, task_type, status)
    elif task_type:
        index, pk_value = "GSI1", _by_type(workspace_id, task_type)
    elif status:
        index, pk_value = "GSI2", _by_status(workspace_id, status)
    else:
        return TaskQuery(None, "PK", "SK", _ws(workspace_id))
    pk_name, sk_name = TASK_INDEXES[index]
    return TaskQuery(index, pk_name, sk_name, pk_value)


def task_index_keys(task: Task) -> Key:
    """The GSI attributes a task item carries (the status ones change with its status)."""
    sort = f"{TASK_PREFIX}{task.id}"
    ws, task_type, status = task.workspace_id, task.task_type, task.status
    return {
        "GSI1PK": _by_type(ws, task_type),
        "GSI1SK": sort,
        "GSI2PK": _by_status(ws, status),
        "GSI2SK": sort,
        "GSI3PK": _by_both(ws, task_type, status),
        "GSI3SK": sort,
    }


def task_page_key(last: Task, task_type: TaskType | None, status: TaskStatus | None) -> Key:
    """The ExclusiveStartKey that continues a listing after `last` on the index the filters select."""
    key = task(last.workspace_id, last.id)
    selected = task_query(last.workspace_id, task_type, status)
    if selected.index is not None:
        index_keys = task_index_keys(last)
        key[selected.pk_name] = index_keys[selected.pk_name]
        key[selected.sk_name] = index_keys[selected.sk_name]
    return key
