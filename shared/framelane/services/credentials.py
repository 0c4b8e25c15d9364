"""GET /v1/tasks/{id}/credentials, and where a task's Content Credentials are stored.

The worker validates the output right after signing and stores that report next to the output; the API
serves it (with a freshly signed sidecar link) without the C2PA SDK or the output's bytes.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from framelane.errors import NotFound
from framelane.models import ContentCredentials, ContentCredentialsReport, Task, Workspace
from framelane.services.context import ServiceContext


def credentials_key(task: Task) -> str:
    return f"outputs/{task.workspace_id}/{task.id}/credentials.json"


def sidecar_key(task: Task, extension: str) -> str:
    """Next to the output (`services.render.output_key`): `output.webm` → `output.webm.c2pa`."""
    return f"outputs/{task.workspace_id}/{task.id}/output.{extension}.c2pa"


def presign_credentials(ctx: ServiceContext, credentials: ContentCredentials) -> ContentCredentials:
    """The stored `s3://` sidecar location as a signed, expiring link (like `output.url`)."""
    if credentials.sidecar_url is None or not credentials.sidecar_url.startswith("s3://"):
        return credentials
    key = urlsplit(credentials.sidecar_url).path.lstrip("/")
    url = ctx.blobs.presigned_get(key, expires_in=ctx.settings.output_url_ttl_seconds)
    return credentials.model_copy(update={"sidecar_url": url})


def get_credentials(ctx: ServiceContext, workspace: Workspace, task_id: str) -> ContentCredentialsReport:
    task = ctx.store.get_task(workspace.id, task_id) if task_id.startswith("task_") else None
    if task is None:
        raise NotFound(f"task {task_id} not found")
    credentials = task.output.content_credentials if task.output else None
    if credentials is None:
        raise NotFound(f"task {task_id} has no Content Credentials (not rendered yet, a transcript, or off)")
    report = ContentCredentialsReport.model_validate_json(ctx.blobs.get_bytes(credentials_key(task)))
    return report.model_copy(update={"sidecar_url": presign_credentials(ctx, credentials).sidecar_url})
