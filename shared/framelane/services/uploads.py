"""Presigned uploads: a client PUTs its media straight to S3, then passes the s3:// URL to a task endpoint."""

from __future__ import annotations

from datetime import timedelta

from framelane.ids import new_id
from framelane.models import UploadCreateRequest, UploadOut, Workspace, utc_now
from framelane.services.context import ServiceContext


def upload_prefix(workspace_id: str) -> str:
    """The workspace's upload area; API uploads live in its `files/` folder so task-type folders stay free."""
    return f"uploads/{workspace_id}/"


def create_upload(ctx: ServiceContext, workspace: Workspace, request: UploadCreateRequest) -> UploadOut:
    key = f"{upload_prefix(workspace.id)}files/{new_id('upl')}"
    ttl = ctx.settings.upload_url_ttl_seconds
    return UploadOut(
        upload_url=ctx.blobs.presigned_put(key, expires_in=ttl, content_type=request.content_type),
        source_url=f"s3://{ctx.blobs.bucket}/{key}",
        expires_at=utc_now() + timedelta(seconds=ttl),
    )
