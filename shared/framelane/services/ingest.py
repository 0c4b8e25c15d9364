"""Ingest: copy an external source into S3 (SSRF-safe, size-capped), probe it, and queue the task."""

from __future__ import annotations

import os
import tempfile
from typing import Any
from urllib.parse import unquote, urlsplit

from framelane.errors import JobFailure
from framelane.media.probe import NotMedia, probe
from framelane.models import JobStatus, MediaInfo, StepOutcome, TaskExecutionInput, TaskType
from framelane.security.safe_http import FetchError, FetchLimits, SafeHttpClient
from framelane.services.context import ServiceContext
from framelane.services.jobs import load_job, transition
from framelane.services.uploads import upload_prefix

MAX_OUTPUT_LONG_SIDE, MAX_OUTPUT_SHORT_SIDE = 3840, 2160


def source_key(workspace_id: str, task_id: str) -> str:
    return f"sources/{workspace_id}/{task_id}"


def ingest(ctx: ServiceContext, payload: TaskExecutionInput) -> StepOutcome:
    job = load_job(ctx, payload.workspace_id, payload.task_id)
    if job.status.is_terminal:
        raise JobFailure("cancelled", f"task is {job.status}")
    if job.media is not None and job.source_key is not None:  # already ingested: a re-driven execution
        return StepOutcome(task_id=job.id, status=job.status)
    source = urlsplit(payload.source_url)
    with tempfile.TemporaryDirectory(prefix="framelane-ingest-") as workdir:
        local_path = os.path.join(workdir, "source")
        if source.scheme == "s3":
            key = _upload_key(ctx, payload.workspace_id, source.netloc, unquote(source.path.lstrip("/")))
            ctx.blobs.download_file(key, local_path)
        else:
            key = source_key(payload.workspace_id, payload.task_id)
            _download(ctx, payload.source_url, local_path)
        media = _probe_and_check(ctx, local_path, job.task_type or payload.task_type)
        check_output_size(payload.task_type, job.options, media)
        if source.scheme != "s3":
            ctx.blobs.upload_file(local_path, key)
    queued = transition(
        ctx,
        job,
        frozenset({JobStatus.ingesting, JobStatus.queued}),
        status=JobStatus.queued,
        source_key=key,
        media=media,
    )
    if queued is None:
        raise JobFailure("cancelled", "task was cancelled during ingest")
    return StepOutcome(task_id=job.id, status=queued.status)


def _upload_key(ctx: ServiceContext, workspace_id: str, bucket: str, key: str) -> str:
    if bucket != ctx.blobs.bucket or not key.startswith(upload_prefix(workspace_id)):
        raise JobFailure("invalid_source", "s3:// sources must be uploads of this workspace")
    if not ctx.blobs.exists(key):
        raise JobFailure("invalid_source", "nothing was uploaded to this source_url")
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
                raise JobFailure("invalid_source", f"Source URL returned {response.status}.")
            with open(path, "wb") as out:
                for chunk in response.iter_bytes(settings.max_source_bytes):
                    out.write(chunk)
    except FetchError as exc:
        if exc.too_large:
            raise JobFailure("source_too_large", str(exc)) from exc
        raise JobFailure("invalid_source", f"Source URL could not be fetched: {exc}") from exc


def _probe_and_check(ctx: ServiceContext, path: str, task_type: TaskType) -> MediaInfo:
    size = os.path.getsize(path)
    if size > ctx.settings.max_source_bytes:
        raise JobFailure(
            "source_too_large", f"source is {size} bytes, over the {ctx.settings.max_source_bytes}-byte limit"
        )
    try:
        media = probe(path)
    except NotMedia as exc:
        raise JobFailure("invalid_source", f"Source is not usable media: {exc}") from exc
    if media.duration > ctx.settings.max_source_seconds:
        raise JobFailure(
            "source_too_long",
            f"source lasts {media.duration:.1f} s, over the {ctx.settings.max_source_seconds:g} s limit",
        )
    if task_type.is_renderer and not media.has_video:
        raise JobFailure("unsupported_media", "source has no video track")
    if task_type is TaskType.transcribe and not media.has_audio:
        raise JobFailure("unsupported_media", "source has no audio track")
    return media


def check_output_size(task_type: TaskType, options: dict[str, Any], media: MediaInfo) -> None:
    """Upscaled outputs above 4K (3840×2160, either orientation) are refused before any work is done."""
    if task_type is not TaskType.super_resolution or not media.width or not media.height:
        return
    scale = float(options.get("scale", 2))
    width, height = round(media.width * scale), round(media.height * scale)
    if max(width, height) > MAX_OUTPUT_LONG_SIDE or min(width, height) > MAX_OUTPUT_SHORT_SIDE:
        raise JobFailure(
            "source_too_large",
            f"a {scale:g}× upscale of {media.width}×{media.height} is {width}×{height}, above 4K",
        )
