"""transcribe tasks: the offline engine (faster-whisper) or AssemblyAI; the transcript is stored in S3."""

from __future__ import annotations

import hmac
import os
import secrets
import tempfile

from framelane.adapters.assemblyai import AssemblyAiClient
from framelane.errors import JobFailure, Unauthorized
from framelane.models import (
    AssemblyAiCallback,
    Job,
    JobOutput,
    JobStatus,
    ProgressStage,
    StepOutcome,
    TaskExecutionInput,
    Transcript,
)
from framelane.services.context import ServiceContext
from framelane.services.jobs import load_job, transition
from framelane.transcription import pace
from framelane.weights import ModelMissing

LIVE_FOR_TRANSCRIPTION = frozenset({JobStatus.queued, JobStatus.processing})


def transcript_key(workspace_id: str, task_id: str) -> str:
    return f"outputs/{workspace_id}/{task_id}/transcript.json"


def transcribe_task(ctx: ServiceContext, payload: TaskExecutionInput, token: str) -> StepOutcome | None:
    """The Transcribe / PollTranscript step. None: AssemblyAI will answer `token` through the callback."""
    job = load_job(ctx, payload.workspace_id, payload.task_id)
    if job.status is JobStatus.completed:
        return StepOutcome(task_id=job.id, status=job.status)  # the callback finished it meanwhile
    if job.status.is_terminal or job.source_key is None:
        raise JobFailure(
            "cancelled" if job.status.is_terminal else "internal_error", "task cannot be transcribed"
        )
    if ctx.settings.assemblyai_api_key:
        return _assemblyai(ctx, job, payload.poll, token)
    if payload.poll:  # the offline run outlived the step's timeout and is still going
        raise JobFailure("transcription_pending", "the offline engine is still transcribing")
    return transcribe_offline_job(ctx, job)


def transcribe_offline_job(ctx: ServiceContext, job: Job) -> StepOutcome:
    """The offline engine in this process: the Transcribe step where the model stack is installed (the local
    stack), or the renderer worker that took the task from the broker's transcribe stream (AWS without a key)."""
    if job.source_key is None:
        raise JobFailure("internal_error", "task was not ingested")
    started = transition(
        ctx,
        job,
        LIVE_FOR_TRANSCRIPTION,
        status=JobStatus.processing,
        progress_stage=ProgressStage.downloading,
        progress_percent=0,
    )
    if started is None:
        raise JobFailure("cancelled", "task was cancelled")
    with tempfile.TemporaryDirectory(prefix="framelane-transcribe-") as workdir:
        path = os.path.join(workdir, "source")
        ctx.blobs.download_file(job.source_key, path)
        working = transition(
            ctx,
            started,
            LIVE_FOR_TRANSCRIPTION,
            progress_stage=ProgressStage.compositing,
            progress_percent=10,
            estimated_seconds_remaining=pace.seconds_for(job.media.duration) if job.media else None,
        )
        if working is None:
            raise JobFailure("cancelled", "task was cancelled")
        transcript = _offline(job.id, path, job.options)
    return store_transcript(ctx, job.workspace_id, job.id, transcript)


def _assemblyai_client(ctx: ServiceContext) -> AssemblyAiClient:
    assert ctx.settings.assemblyai_api_key is not None
    return AssemblyAiClient(ctx.settings.assemblyai_api_key, ctx.settings.assemblyai_base_url)


def _assemblyai(ctx: ServiceContext, job: Job, poll: bool, token: str) -> StepOutcome | None:
    client = _assemblyai_client(ctx)
    if poll:
        return collect_transcript(ctx, client, job)
    if job.external_id is not None:  # a redelivered submit: keep waiting, on this token
        transition(ctx, job, LIVE_FOR_TRANSCRIPTION, step_token=token)
        return None
    secret = secrets.token_urlsafe(32)
    started = transition(
        ctx,
        job,
        LIVE_FOR_TRANSCRIPTION,
        status=JobStatus.processing,
        progress_stage=ProgressStage.uploading,
        progress_percent=0,
        callback_secret=secret,
        step_token=token,
    )
    if started is None or job.source_key is None:
        raise JobFailure("cancelled", "task was cancelled")
    base = ctx.settings.callback_base_url
    webhook = f"{base.rstrip('/')}/v1/callbacks/assemblyai/{job.workspace_id}/{job.id}" if base else None
    with tempfile.TemporaryDirectory(prefix="framelane-transcribe-") as workdir:
        path = os.path.join(workdir, "source")
        ctx.blobs.download_file(job.source_key, path)
        try:
            transcript_id = client.submit(path, job.options, webhook, secret)
        except Exception as exc:  # the SDK raises its own error types; the message is what the caller needs
            raise JobFailure("transcription_failed", f"AssemblyAI: {exc}") from exc
    if (
        transition(
            ctx,
            started,
            LIVE_FOR_TRANSCRIPTION,
            external_id=transcript_id,
            progress_stage=ProgressStage.compositing,
            progress_percent=10,
        )
        is None
    ):
        raise JobFailure("cancelled", "task was cancelled")
    return None


def collect_transcript(ctx: ServiceContext, client: AssemblyAiClient, job: Job) -> StepOutcome:
    if job.external_id is None:
        raise JobFailure("transcription_failed", "no transcript was submitted to AssemblyAI")
    try:
        remote = client.fetch(job.id, job.external_id, job.options)
    except Exception as exc:
        raise JobFailure("transcription_pending", f"AssemblyAI could not be asked: {exc}") from exc
    if remote.status == "error":
        raise JobFailure("transcription_failed", f"AssemblyAI: {remote.error or 'the transcript failed'}")
    if remote.transcript is None:
        raise JobFailure("transcription_pending", f"AssemblyAI transcript is {remote.status}")
    return store_transcript(ctx, job.workspace_id, job.id, remote.transcript)


def assemblyai_callback(
    ctx: ServiceContext, workspace_id: str, task_id: str, secret: str | None, callback: AssemblyAiCallback
) -> None:
    """AssemblyAI's webhook: authenticated by the per-task secret; resumes the waiting Transcribe step."""
    job = ctx.store.get_task(workspace_id, task_id) if task_id.startswith("task_") else None
    if (
        job is None
        or not job.callback_secret
        or not secret
        or not hmac.compare_digest(secret, job.callback_secret)
    ):
        raise Unauthorized("unknown task or wrong callback secret")
    if (
        job.status.is_terminal
        or callback.status not in {"completed", "error"}
        or not ctx.settings.assemblyai_api_key
    ):
        return
    try:
        outcome = collect_transcript(ctx, _assemblyai_client(ctx), job)
    except JobFailure as failure:
        if failure.code != "transcription_pending" and job.step_token:
            ctx.sfn.fail(job.step_token, failure.code, failure.message)
        return
    if job.step_token:
        ctx.sfn.succeed(job.step_token, outcome.model_dump_json())


def _offline(task_id: str, path: str, options: dict[str, object]) -> Transcript:
    try:
        from framelane.transcription.offline import (
            transcribe_offline,
        )  # the model stack loads only where used
    except ImportError as exc:
        raise JobFailure(
            "transcription_failed",
            f"the offline engine is not installed here ({exc.name}); configure an AssemblyAI key",
        ) from exc
    try:
        return transcribe_offline(task_id, path, dict(options))
    except ModelMissing as exc:
        raise JobFailure("transcription_failed", str(exc)) from exc


def store_transcript(
    ctx: ServiceContext, workspace_id: str, task_id: str, transcript: Transcript
) -> StepOutcome:
    """No words → no_speech_detected; otherwise the transcript JSON becomes the output and the task completes."""
    if not transcript.words and not transcript.text.strip():
        raise JobFailure("no_speech_detected", "no speech was detected in the audio")
    body = transcript.model_dump_json().encode()
    key = transcript_key(workspace_id, task_id)
    ctx.blobs.put_bytes(key, body, "application/json")
    job = load_job(ctx, workspace_id, task_id)
    output = JobOutput(
        url=f"s3://{ctx.blobs.bucket}/{key}", duration=transcript.audio_duration, size_bytes=len(body)
    )
    completed = transition(
        ctx,
        job,
        LIVE_FOR_TRANSCRIPTION,
        status=JobStatus.completed,
        progress_percent=100,
        output=output,
        output_key=key,
    )
    if completed is None:
        raise JobFailure("cancelled", "task was cancelled")
    return StepOutcome(task_id=task_id, status=completed.status)
