"""Workspaces and API keys. Keys are random and stored only as a sha256 hash."""

from __future__ import annotations

import hashlib
import threading
import time

from framelane.errors import NotFound, Unauthorized
from framelane.ids import new_secret, new_webhook_secret, new_workspace_id
from framelane.models import ApiKeyRecord, Workspace, WorkspaceCreated, utc_now
from framelane.services.context import ServiceContext

API_KEY_PREFIX = "fl_"
MAX_API_KEY_LENGTH = 256
_RECENT_KEYS_MAX = 10_000

# (table, key hash) → (monotonic expiry, workspace): every request authenticates, and two reads per request were a
# third of a GET's cost. Bounded in time by `auth_cache_seconds` and in size by clearing when full.
_recent_keys: dict[tuple[str, str], tuple[float, Workspace]] = {}
_recent_keys_lock = threading.Lock()


def hash_api_key(api_key: str) -> str:
    # Keys carry 256 random bits, so a fast unsalted hash is safe: there is nothing to brute-force.
    return hashlib.sha256(api_key.encode()).hexdigest()


def issue_api_key(ctx: ServiceContext, workspace_id: str) -> WorkspaceCreated:
    """A further key for an existing workspace (key rotation: issue, move clients over, revoke the old one)."""
    if ctx.store.get_workspace(workspace_id) is None:
        raise NotFound(f"workspace {workspace_id} not found")
    api_key = new_secret(API_KEY_PREFIX)
    ctx.store.put_api_key(
        ApiKeyRecord(
            key_hash=hash_api_key(api_key),
            workspace_id=workspace_id,
            prefix=api_key[:7],
            created_at=utc_now(),
        )
    )
    return WorkspaceCreated(workspace_id=workspace_id, api_key=api_key)


def forget_workspace(workspace_id: str) -> None:
    """The workspace changed (its limits): this process reads it again at the next request, not after the
    auth cache's seconds. Other processes see the change when their cached entry expires."""
    with _recent_keys_lock:
        for cache_key in [k for k, (_, workspace) in _recent_keys.items() if workspace.id == workspace_id]:
            del _recent_keys[cache_key]


def revoke_api_key(ctx: ServiceContext, api_key: str) -> None:
    key_hash = hash_api_key(api_key)
    with _recent_keys_lock:
        _recent_keys.pop((ctx.store.table_name, key_hash), None)
    if not ctx.store.delete_api_key(key_hash):
        raise NotFound("no such API key")


def create_workspace(ctx: ServiceContext, name: str) -> WorkspaceCreated:
    now = utc_now()
    workspace = Workspace(
        id=new_workspace_id(), name=name, created_at=now, signing_secret=new_webhook_secret()
    )
    api_key = new_secret(API_KEY_PREFIX)
    record = ApiKeyRecord(
        key_hash=hash_api_key(api_key), workspace_id=workspace.id, prefix=api_key[:7], created_at=now
    )
    ctx.store.put_workspace(workspace, record)
    return WorkspaceCreated(workspace_id=workspace.id, api_key=api_key)


def _cache_key(ctx: ServiceContext, api_key: str | None) -> tuple[str, str]:
    """Where the auth cache keeps the key; Unauthorized for a missing or malformed key (no I/O needed for that)."""
    if not api_key:
        raise Unauthorized("missing bearer API key")
    if len(api_key) > MAX_API_KEY_LENGTH or not api_key.startswith(API_KEY_PREFIX):
        raise Unauthorized("invalid API key")
    return ctx.store.table_name, hash_api_key(api_key)


def _remembered(cache_key: tuple[str, str]) -> Workspace | None:
    with _recent_keys_lock:
        recent = _recent_keys.get(cache_key)
    return recent[1] if recent is not None and recent[0] > time.monotonic() else None


def recently_authenticated(ctx: ServiceContext, api_key: str | None) -> Workspace | None:
    """The workspace of a key this process authenticated within `auth_cache_seconds`, without I/O (the API asks on
    its event loop); None: `authenticate` must read the store. Unauthorized for a missing or malformed key."""
    return _remembered(_cache_key(ctx, api_key))


def authenticate(ctx: ServiceContext, api_key: str | None) -> Workspace:
    """The workspace an API key belongs to; Unauthorized for a missing, malformed or unknown key."""
    cache_key = _cache_key(ctx, api_key)
    recent = _remembered(cache_key)
    if recent is not None:
        return recent
    record = ctx.store.get_api_key(cache_key[1])
    workspace = None if record is None else ctx.store.get_workspace(record.workspace_id)
    if workspace is None:
        raise Unauthorized("invalid API key")
    if ctx.settings.auth_cache_seconds > 0:
        with _recent_keys_lock:
            if len(_recent_keys) >= _RECENT_KEYS_MAX:
                _recent_keys.clear()
            _recent_keys[cache_key] = (time.monotonic() + ctx.settings.auth_cache_seconds, workspace)
    return workspace
