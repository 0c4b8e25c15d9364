"""transcribe tasks: the offline engine (faster-whisper) or AssemblyAI; the transcript is stored in S3."""

from __future__ import annotations

import hmac
import os
import secrets
import tempfile

from framelane.adapters.assemblyai import AssemblyAiClient
from framelane.errors import TaskCancelled, TaskFailure, TranscriptionPending, Unauthorized, WorkspaceBusy
from framelane.models import (
    AssemblyAiCallback,
    JobOutput,
    ProgressStage,
    StepOutcome,
    Task,
    TaskErrorCode,
    TaskExecutionInput,
    TaskStatus,
    Transcript,
)
from framelane.services.context import ServiceContext
from framelane.services.limits import workspace_concurrency
from framelane.services.task_state import load_task, transition
from framelane.transcription import pace
from framelane.weights import ModelMissing

LIVE_FOR_TRANSCRIPTION = frozenset({TaskStatus.queued, TaskStatus.processing})
# AssemblyAI fetches the audio when the transcript starts, normally within minutes of the submit
ASSEMBLYAI_SOURCE_URL_SECONDS = 6 * 3600


def transcript_key(workspace_id: str, task_id: str) -> str:
    return f"outputs/{workspace_id}/{task_id}/transcript.json"


def transcribe_task(ctx: ServiceContext, payload: TaskExecutionInput, token: str) -> StepOutcome | None:
    """The Transcribe / PollTranscript step. None: AssemblyAI will answer `token` through the callback."""
    task = load_task(ctx, payload.workspace_id, payload.task_id)
    if task.status is TaskStatus.completed:
        return StepOutcome(task_id=task.id, status=task.status)  # the callback finished it meanwhile
    if task.status.is_terminal:
        raise TaskCancelled(f"task is {task.status}")
    if task.source_key is None:
        raise TaskFailure(TaskErrorCode.internal_error, "task was not ingested")
    _hold_slot(ctx, task, poll=payload.poll)
    if ctx.settings.assemblyai_api_key:
        return _assemblyai(ctx, task, payload.poll, token)
    if payload.poll:  # the offline run outlived the step's timeout and is still going
        raise TranscriptionPending("the offline engine is still transcribing")
    return transcribe_offline_task(ctx, task)


def transcribe_offline_task(ctx: ServiceContext, task: Task) -> StepOutcome:
    """The offline engine in this process: the Transcribe step where the model stack is installed (the local
    stack), or the renderer worker that took the task from the broker's transcribe stream (AWS without a key)."""
    if task.source_key is None:
        raise TaskFailure(TaskErrorCode.internal_error, "task was not ingested")
    started = transition(
        ctx,
        task,
        LIVE_FOR_TRANSCRIPTION,
        status=TaskStatus.processing,
        progress_stage=ProgressStage.downloading,
        progress_percent=0,
    )
    if started is None:
        raise TaskCancelled("task was cancelled")
    with tempfile.TemporaryDirectory(prefix="framelane-transcribe-") as workdir:
        path = os.path.join(workdir, "source")
        ctx.blobs.download_file(task.source_key, path)
        working = transition(
            ctx,
            started,
            LIVE_FOR_TRANSCRIPTION,
            progress_stage=ProgressStage.compositing,
            progress_percent=10,
            estimated_seconds_remaining=pace.seconds_for(task.media.duration) if task.media else None,
        )
        if working is None:
            raise TaskCancelled("task was cancelled")
        transcript = _offline(task.id, path, task.options)
    return store_transcript(ctx, task.workspace_id, task.id, transcript)


def _hold_slot(ctx: ServiceContext, task: Task, *, poll: bool) -> None:
    """A transcription runs under its workspace's concurrency quota, like a render: without a free slot the
    step fails with `workspace_busy`, which the Transcribe state retries after a pause (the task stays
    `queued`). The hold outlives the step's timeout plus two polls and is renewed by every poll (AssemblyAI
    works meanwhile); finalize releases it, and its expiry frees the slot of a step that died."""
    if ctx.broker is None:
        return
    settings = ctx.settings
    ttl = settings.transcription_callback_timeout_seconds + 2 * settings.transcription_poll_interval_seconds
    quota = workspace_concurrency(ctx, task.workspace_id)
    if not ctx.broker.hold_slot(task.workspace_id, task.id, quota, ttl, force=poll):
        raise WorkspaceBusy(f"the workspace already runs {quota} tasks at once; waiting for a free slot")


def _assemblyai_client(ctx: ServiceContext) -> AssemblyAiClient:
    assert ctx.settings.assemblyai_api_key is not None
    return AssemblyAiClient(ctx.settings.assemblyai_api_key, ctx.settings.assemblyai_base_url)


def _assemblyai(ctx: ServiceContext, task: Task, poll: bool, token: str) -> StepOutcome | None:
    client = _assemblyai_client(ctx)
    if poll:
        return collect_transcript(ctx, client, task)
    if task.external_id is not None:  # a redelivered submit: keep waiting, on this token
        transition(ctx, task, LIVE_FOR_TRANSCRIPTION, step_token=token)
        return None
    secret = secrets.token_urlsafe(32)
    started = transition(
        ctx,
        task,
        LIVE_FOR_TRANSCRIPTION,
        status=TaskStatus.processing,
        progress_stage=ProgressStage.uploading,
        progress_percent=0,
        callback_secret=secret,
        step_token=token,
    )
    if started is None or task.source_key is None:
        raise TaskCancelled("task was cancelled")
    base = ctx.settings.callback_base_url
    webhook = f"{base.rstrip('/')}/v1/callbacks/assemblyai/{task.workspace_id}/{task.id}" if base else None
    # AssemblyAI fetches the source itself: nothing is downloaded here and uploaded again
    audio_url = ctx.blobs.presigned_get(task.source_key, expires_in=ASSEMBLYAI_SOURCE_URL_SECONDS)
    try:
        transcript_id = client.submit(audio_url, task.options, webhook, secret)
    except Exception as exc:  # the SDK raises its own error types; the message is what the caller needs
        raise TaskFailure(TaskErrorCode.transcription_failed, f"AssemblyAI: {exc}") from exc
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
        raise TaskCancelled("task was cancelled")
    return None


def collect_transcript(ctx: ServiceContext, client: AssemblyAiClient, task: Task) -> StepOutcome:
    if task.external_id is None:
        raise TaskFailure(TaskErrorCode.transcription_failed, "no transcript was submitted to AssemblyAI")
    try:
        remote = client.fetch(task.id, task.external_id, task.options)
    except Exception as exc:
        raise TranscriptionPending(f"AssemblyAI could not be asked: {exc}") from exc
    if remote.status == "error":
        raise TaskFailure(
            TaskErrorCode.transcription_failed, f"AssemblyAI: {remote.error or 'the transcript failed'}"
        )
    if remote.transcript is None:
        raise TranscriptionPending(f"AssemblyAI transcript is {remote.status}")
    return store_transcript(ctx, task.workspace_id, task.id, remote.transcript)


def assemblyai_callback(
    ctx: ServiceContext, workspace_id: str, task_id: str, secret: str | None, callback: AssemblyAiCallback
) -> None:
    """AssemblyAI's webhook: authenticated by the per-task secret; resumes the waiting Transcribe step."""
    task = ctx.store.get_task(workspace_id, task_id) if task_id.startswith("task_") else None
    if (
        task is None
        or not task.callback_secret
        or not secret
        or not hmac.compare_digest(secret, task.callback_secret)
    ):
        raise Unauthorized("unknown task or wrong callback secret")
    if (
        task.status.is_terminal
        or callback.status not in {"completed", "error"}
        or not ctx.settings.assemblyai_api_key
    ):
        return
    try:
        outcome = collect_transcript(ctx, _assemblyai_client(ctx), task)
    except TranscriptionPending:
        return  # the PollTranscript state asks again
    except (TaskFailure, TaskCancelled) as failure:
        if task.step_token:
            ctx.sfn.fail(task.step_token, failure.error, failure.message)
        return
    if task.step_token:
        ctx.sfn.succeed(task.step_token, outcome.model_dump_json())


def _offline(task_id: str, path: str, options: dict[str, object]) -> Transcript:
    try:
        from framelane.transcription.offline import (
            transcribe_offline,
        )  # the model stack loads only where used
    except ImportError as exc:
        raise TaskFailure(
            TaskErrorCode.transcription_failed,
            f"the offline engine is not installed here ({exc.name}); configure an AssemblyAI key",
        ) from exc
    try:
        return transcribe_offline(task_id, path, dict(options))
    except ModelMissing as exc:
        raise TaskFailure(TaskErrorCode.transcription_failed, str(exc)) from exc


def store_transcript(
    ctx: ServiceContext, workspace_id: str, task_id: str, transcript: Transcript
) -> StepOutcome:
    """No words → no_speech_detected; otherwise the transcript JSON becomes the output and the task completes."""
    if not transcript.words and not transcript.text.strip():
        raise TaskFailure(TaskErrorCode.no_speech_detected, "no speech was detected in the audio")
    body = transcript.model_dump_json().encode()
    key = transcript_key(workspace_id, task_id)
    ctx.blobs.put_bytes(key, body, "application/json")
    task = load_task(ctx, workspace_id, task_id)
    output = JobOutput(
        url=f"s3://{ctx.blobs.bucket}/{key}", duration=transcript.audio_duration, size_bytes=len(body)
    )
    completed = transition(
        ctx,
        task,
        LIVE_FOR_TRANSCRIPTION,
        status=TaskStatus.completed,
        progress_percent=100,
        output=output,
        output_key=key,
    )
    if completed is None:
        raise TaskCancelled("task was cancelled")
    return StepOutcome(task_id=task_id, status=completed.status)
