"""S3 upload trigger: an object under `uploads/{workspace_id}/{task_type}/…` becomes a task.

Options come from the object's user metadata (`x-amz-meta-intensity: 0.8`, `x-amz-meta-webhook_url: …`,
`x-amz-meta-meta-project_id: p1` for task metadata). Objects under `uploads/{ws}/files/` (from
POST /v1/uploads) are sources for explicit API calls and start nothing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote, unquote_plus

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event
from pydantic import ValidationError

from framelane.errors import FramelaneError
from framelane.logs import SERVICE
from framelane.models import REQUEST_MODEL_BY_TYPE, JobOut, TaskType
from framelane.services.context import ServiceContext
from framelane.services.tasks import create_task
from framelane.services.uploads import METADATA_PREFIX

logger = Logger(service=SERVICE, child=True)


def tasks_from_s3_event(ctx: ServiceContext, event: dict[str, Any]) -> list[JobOut]:
    """Tasks for the ObjectCreated records of an S3 notification (its test event has no records)."""
    created = []
    for record in S3Event(event).records if "Records" in event else ():
        if not record.event_name.startswith("ObjectCreated"):
            continue
        s3_object = record.s3.get_object
        key = unquote_plus(s3_object.key)  # notifications URL-encode keys (a space arrives as "+")
        sequencer = s3_object.get("sequencer") or s3_object.etag
        task = task_from_upload(ctx, record.s3.bucket.name, key, sequencer)
        if task is not None:
            created.append(task)
    return created


def task_from_upload(ctx: ServiceContext, bucket: str, key: str, sequencer: str) -> JobOut | None:
    parts = key.split("/")
    if bucket != ctx.blobs.bucket or len(parts) < 4 or parts[0] != "uploads":
        return None
    workspace_id, folder = parts[1], parts[2]
    try:
        task_type = TaskType(folder.replace("-", "_"))
    except ValueError:
        return None  # e.g. files/ from POST /v1/uploads
    workspace = ctx.store.get_workspace(workspace_id)
    if workspace is None:
        logger.warning("upload for unknown workspace", extra={"key": key})
        return None
    body: dict[str, Any] = {"source_url": f"s3://{bucket}/{quote(key)}", "metadata": {}}
    for name, raw in ctx.blobs.object_metadata(key).items():
        value = _parse(raw)
        if name.startswith(METADATA_PREFIX):
            body["metadata"][name.removeprefix(METADATA_PREFIX)] = value
        else:
            body[name] = value
    try:
        request = REQUEST_MODEL_BY_TYPE[task_type].model_validate(body)
        # One task per object version even if S3 delivers the event twice.
        idempotency_key = "s3-" + hashlib.sha256(f"{key}:{sequencer}".encode()).hexdigest()
        return create_task(ctx, workspace, task_type, request, idempotency_key).task
    except (ValidationError, FramelaneError) as exc:
        logger.warning("upload not turned into a task", extra={"key": key, "reason": str(exc)})
        return None


def _parse(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw
