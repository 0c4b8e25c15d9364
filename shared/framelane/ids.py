"""Prefixed ULID identifiers: sortable by creation time, so newest-first is a key order."""

from __future__ import annotations

import base64
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


def new_webhook_secret() -> str:
    """`whsec_` + base64 of 32 random bytes: the format Standard Webhooks libraries verify with."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
