"""Signed links to a task's ingested source, so a viewer can play the "before" next to the output."""

from __future__ import annotations

from datetime import timedelta

from framelane.errors import NotFound, SourceNotReady
from framelane.models import SourceLink, Workspace, utc_now
from framelane.services.context import ServiceContext


def source_link(ctx: ServiceContext, workspace: Workspace, task_id: str) -> SourceLink:
    task = ctx.store.get_task(workspace.id, task_id) if task_id.startswith("task_") else None
    if task is None:
        raise NotFound(f"task {task_id} not found")
    if task.source_key is None:
        raise SourceNotReady(f"task {task_id} has no ingested source yet")
    ttl = ctx.settings.output_url_ttl_seconds
    return SourceLink(
        url=ctx.blobs.presigned_get(task.source_key, expires_in=ttl),
        expires_at=utc_now() + timedelta(seconds=ttl),
    )
