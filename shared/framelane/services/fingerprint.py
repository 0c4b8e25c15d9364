"""Request fingerprints for Idempotency-Key: the same logical request gives the same fingerprint.

Idempotency is hand-written (services/tasks.py, conditional writes in the DynamoDB adapter) rather than
Powertools' idempotency utility: a retried create must adopt the task a crashed request stored and start it,
which a cached-response store cannot express.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel


def request_fingerprint(operation: str, body: BaseModel) -> str:
    """sha256 over the operation and the *validated* body, so key order and defaults do not matter."""
    canonical = json.dumps(
        {"operation": operation, "body": body.model_dump(mode="json")}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
