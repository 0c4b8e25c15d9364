"""Opaque, tamper-evident pagination cursors bound to the workspace and the filters they were made for.

Hand-written (an HMAC over a DynamoDB start key): no library signs a start key and binds it to a workspace and
its filters, and the start key must never reach a client readable or forgeable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from framelane.errors import InvalidCursor


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scope(workspace_id: str, filters: dict[str, str | None]) -> str:
    return json.dumps({"ws": workspace_id, "filters": filters}, sort_keys=True, separators=(",", ":"))


def encode_cursor(
    position: dict[str, Any], *, workspace_id: str, filters: dict[str, str | None], secret: str
) -> str:
    body = _b64(json.dumps(position, sort_keys=True, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{body}.{_scope(workspace_id, filters)}".encode(), hashlib.sha256)
    return f"{body}.{_b64(signature.digest())}"


def decode_cursor(
    cursor: str, *, workspace_id: str, filters: dict[str, str | None], secret: str
) -> dict[str, Any]:
    """The position inside `cursor`; InvalidCursor if it was altered or made for other filters/workspace."""
    body, _, signature = cursor.partition(".")
    expected = hmac.new(secret.encode(), f"{body}.{_scope(workspace_id, filters)}".encode(), hashlib.sha256)
    try:
        valid = hmac.compare_digest(_unb64(signature), expected.digest())
    except (ValueError, TypeError):
        valid = False
    if not body or not valid:
        raise InvalidCursor("cursor is invalid, or was issued for another query")
    position = json.loads(_unb64(body))
    if not isinstance(position, dict):
        raise InvalidCursor("cursor is invalid")
    return position
