"""Prefixed ULID identifiers: sortable by creation time, so newest-first is a key order."""

from __future__ import annotations

import secrets

from ulid import ULID


def new_id(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


def new_task_id() -> str:
    return new_id("task")


def new_workspace_id() -> str:
    return new_id("ws")


def new_secret(prefix: str, nbytes: int = 32) -> str:
    return f"{prefix}{secrets.token_urlsafe(nbytes)}"
