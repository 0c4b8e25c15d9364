"""Workspaces and API keys. Keys are random and stored only as a sha256 hash."""

from __future__ import annotations

import hashlib

from framelane.errors import NotFound, Unauthorized
from framelane.ids import new_secret, new_webhook_secret, new_workspace_id
from framelane.models import ApiKeyRecord, Workspace, WorkspaceCreated, utc_now
from framelane.services.context import ServiceContext

API_KEY_PREFIX = "fl_"
MAX_API_KEY_LENGTH = 256


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


def revoke_api_key(ctx: ServiceContext, api_key: str) -> None:
    if not ctx.store.delete_api_key(hash_api_key(api_key)):
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


def authenticate(ctx: ServiceContext, api_key: str | None) -> Workspace:
    """The workspace an API key belongs to; Unauthorized for a missing, malformed or unknown key."""
    if not api_key:
        raise Unauthorized("missing bearer API key")
    if len(api_key) > MAX_API_KEY_LENGTH or not api_key.startswith(API_KEY_PREFIX):
        raise Unauthorized("invalid API key")
    record = ctx.store.get_api_key(hash_api_key(api_key))
    workspace = None if record is None else ctx.store.get_workspace(record.workspace_id)
    if workspace is None:
        raise Unauthorized("invalid API key")
    return workspace
