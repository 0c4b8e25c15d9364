"""Presigned uploads: a client PUTs its media straight to S3, then passes the s3:// URL to a task endpoint —
or names a task here, and the S3 trigger starts it when the upload lands."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from framelane.errors import InvalidRequest
from framelane.ids import new_id
from framelane.models import REQUEST_MODEL_BY_TYPE, UploadCreateRequest, UploadOut, Workspace, utc_now
from framelane.services.context import ServiceContext

METADATA_PREFIX = "meta-"
S3_METADATA_NAME = re.compile(r"[a-z0-9._-]+")


def upload_prefix(workspace_id: str) -> str:
    """The workspace's upload area; plain uploads live in `files/`, uploads that start a task in its type's folder."""
    return f"uploads/{workspace_id}/"


def create_upload(ctx: ServiceContext, workspace: Workspace, request: UploadCreateRequest) -> UploadOut:
    folder = "files" if request.task_type is None else request.task_type.value.replace("_", "-")
    key = f"{upload_prefix(workspace.id)}{folder}/{new_id('upl')}"
    source_url = f"s3://{ctx.blobs.bucket}/{key}"
    object_metadata = _task_metadata(request, source_url) if request.task_type else {}
    ttl = ctx.settings.upload_url_ttl_seconds
    headers = {f"x-amz-meta-{name}": value for name, value in object_metadata.items()}
    if request.content_type:
        headers["Content-Type"] = request.content_type
    return UploadOut(
        upload_url=ctx.blobs.presigned_put(
            key, expires_in=ttl, content_type=request.content_type, metadata=object_metadata
        ),
        source_url=source_url,
        expires_at=utc_now() + timedelta(seconds=ttl),
        headers=headers,
    )


def _task_metadata(request: UploadCreateRequest, source_url: str) -> dict[str, str]:
    """The task's options as S3 user metadata (ASCII JSON values), validated now rather than after the upload."""
    assert request.task_type is not None
    for name in request.metadata:
        if not S3_METADATA_NAME.fullmatch(name):
            raise InvalidRequest(
                f"metadata name {name!r}: tasks started by an upload carry metadata as S3 object metadata, whose "
                "names are lower-case ASCII letters, digits, '.', '_' and '-'"
            )
    body: dict[str, Any] = {**request.options, "source_url": source_url, "metadata": request.metadata}
    if request.webhook_url:
        body["webhook_url"] = request.webhook_url
    try:
        task = REQUEST_MODEL_BY_TYPE[request.task_type].model_validate(body)
    except ValidationError as exc:
        raise InvalidRequest(
            f"options are not valid for {request.task_type}: {exc.errors()[0]['msg']}"
        ) from exc
    metadata = {name: json.dumps(value) for name, value in task.options().items()}
    metadata.update({f"{METADATA_PREFIX}{k}": json.dumps(v) for k, v in task.metadata.items()})
    if task.webhook_url:
        metadata["webhook_url"] = json.dumps(task.webhook_url)
    if len(json.dumps(metadata)) > 1800:  # S3 user metadata is limited to 2 KB
        raise InvalidRequest("options and metadata are too large for an upload-triggered task")
    return metadata
