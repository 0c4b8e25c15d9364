"""Ingest: copy an external source into S3 (SSRF-safe, size-capped), probe it, and queue the task."""

from __future__ import annotations

import os
import tempfile
from typing import Any
from urllib.parse import unquote, urlsplit

from framelane.errors import TaskCancelled, TaskFailure
from framelane.media.probe import NotMedia, probe
from framelane.media.segments import plan_cuts
from framelane.models import (
    IngestOutcome,
    MediaInfo,
    Segment,
    Task,
    TaskErrorCode,
    TaskExecutionInput,
    TaskStatus,
    TaskType,
)
from framelane.security.safe_http import FetchError, FetchLimits, SafeHttpClient
from framelane.services.context import ServiceContext
from framelane.services.task_state import load_task, transition
from framelane.services.uploads import upload_prefix

MAX_OUTPUT_LONG_SIDE, MAX_OUTPUT_SHORT_SIDE = 3840, 2160


def source_key(workspace_id: str, task_id: str) -> str:
    return f"sources/{workspace_id}/{task_id}"


def ingest(ctx: ServiceContext, payload: TaskExecutionInput) -> IngestOutcome:
    task = load_task(ctx, payload.workspace_id, payload.task_id)
    if task.status.is_terminal:
        raise TaskCancelled(f"task is {task.status}")
    if task.media is not None and task.source_key is not None:  # already ingested: a re-driven execution
        return _outcome(task, task.segments)
    source = urlsplit(payload.source_url)
    with tempfile.TemporaryDirectory(prefix="framelane-ingest-") as workdir:
        local_path = os.path.join(workdir, "source")
        if source.scheme == "s3":
            key = _upload_key(ctx, payload.workspace_id, source.netloc, unquote(source.path.lstrip("/")))
            ctx.blobs.download_file(key, local_path)
        else:
            key = source_key(payload.workspace_id, payload.task_id)
            _download(ctx, payload.source_url, local_path)
        media = _probe_and_check(ctx, local_path, task.task_type or payload.task_type)
        check_output_size(payload.task_type, task.options, media)
        segments = _segments(ctx, local_path, payload.task_type, media)
        if source.scheme != "s3":
            ctx.blobs.upload_file(local_path, key)
    queued = transition(
        ctx,
        task,
        frozenset({TaskStatus.ingesting, TaskStatus.queued}),
        status=TaskStatus.queued,
        source_key=key,
        media=media,
        segments=segments,
    )
    if queued is None:
        raise TaskCancelled("task was cancelled during ingest")
    return _outcome(queued, segments)


def _outcome(task: Task, segments: list[Segment] | None) -> IngestOutcome:
    return IngestOutcome(
        task_id=task.id,
        status=task.status,
        segmented=segments is not None,
        segments=[s.index for s in segments or []],
    )


def _segments(ctx: ServiceContext, path: str, task_type: TaskType, media: MediaInfo) -> list[Segment] | None:
    """A renderer source longer than the threshold, cut at its keyframes; None keeps the single render."""
    settings = ctx.settings
    if not task_type.is_renderer or media.duration <= settings.segment_threshold_seconds:
        return None
    cuts = plan_cuts(path, settings.segment_seconds, settings.segment_warmup_seconds)
    if len(cuts) < 2:
        return None  # no keyframe to cut at
    return [
        Segment(index=i, start_pts=c.start_pts, end_pts=c.end_pts, warmup_pts=c.warmup_pts, frames=c.frames)
        for i, c in enumerate(cuts)
    ]


def _upload_key(ctx: ServiceContext, workspace_id: str, bucket: str, key: str) -> str:
    if bucket != ctx.blobs.bucket or not key.startswith(upload_prefix(workspace_id)):
        raise TaskFailure(TaskErrorCode.invalid_source, "s3:// sources must be uploads of this workspace")
    if not ctx.blobs.exists(key):
        raise TaskFailure(TaskErrorCode.invalid_source, "nothing was uploaded to this source_url")
    size, limit = ctx.blobs.size(key), ctx.settings.max_source_bytes
    if size > limit:  # a presigned PUT cannot cap the size: refuse before downloading any of it
        raise TaskFailure(
            TaskErrorCode.source_too_large, f"the upload is {size} bytes, over the {limit}-byte limit"
        )
    return key


def _download(ctx: ServiceContext, url: str, path: str) -> None:
    settings = ctx.settings
    client = SafeHttpClient(
        ctx.outbound,
        FetchLimits(settings.fetch_connect_timeout, settings.fetch_read_timeout, settings.max_redirects),
    )
    try:
        with client.request("GET", url) as response:
            if response.status != 200:
                raise TaskFailure(TaskErrorCode.invalid_source, f"Source URL returned {response.status}.")
            with open(path, "wb") as out:
                for chunk in response.iter_bytes(settings.max_source_bytes):
                    out.write(chunk)
    except FetchError as exc:
        if exc.too_large:
            raise TaskFailure(TaskErrorCode.source_too_large, str(exc)) from exc
        raise TaskFailure(TaskErrorCode.invalid_source, f"Source URL could not be fetched: {exc}") from exc


def _probe_and_check(ctx: ServiceContext, path: str, task_type: TaskType) -> MediaInfo:
    size = os.path.getsize(path)
    if size > ctx.settings.max_source_bytes:
        raise TaskFailure(
            TaskErrorCode.source_too_large,
            f"source is {size} bytes, over the {ctx.settings.max_source_bytes}-byte limit",
        )
    try:
        media = probe(path)
    except NotMedia as exc:
        raise TaskFailure(TaskErrorCode.invalid_source, f"Source is not usable media: {exc}") from exc
    if media.duration > ctx.settings.max_source_seconds:
        raise TaskFailure(
            TaskErrorCode.source_too_long,
            f"source lasts {media.duration:.1f} s, over the {ctx.settings.max_source_seconds:g} s limit",
        )
    if task_type.is_renderer and not media.has_video:
        raise TaskFailure(TaskErrorCode.unsupported_media, "source has no video track")
    if task_type is TaskType.transcribe and not media.has_audio:
        raise TaskFailure(TaskErrorCode.unsupported_media, "source has no audio track")
    return media


def check_output_size(task_type: TaskType, options: dict[str, Any], media: MediaInfo) -> None:
    """Upscaled outputs above 4K (3840×2160, either orientation) are refused before any work is done."""
    if task_type is not TaskType.super_resolution or not media.width or not media.height:
        return
    scale = float(options.get("scale", 2))
    width, height = round(media.width * scale), round(media.height * scale)
    if max(width, height) > MAX_OUTPUT_LONG_SIDE or min(width, height) > MAX_OUTPUT_SHORT_SIDE:
        raise TaskFailure(
            TaskErrorCode.source_too_large,
            f"a {scale:g}× upscale of {media.width}×{media.height} is {width}×{height}, above 4K",
        )
