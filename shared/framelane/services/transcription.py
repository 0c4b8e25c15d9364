"""transcribe tasks: the offline engine (faster-whisper) or AssemblyAI; the transcript is stored in S3."""

from __future__ import annotations

import os
import tempfile

from framelane.errors import JobFailure
from framelane.models import (
    JobOutput,
    JobStatus,
    ProgressStage,
    StepOutcome,
    TaskExecutionInput,
    Transcript,
)
from framelane.services.context import ServiceContext
from framelane.services.jobs import load_job, transition
from framelane.weights import ModelMissing

LIVE_FOR_TRANSCRIPTION = frozenset({JobStatus.queued, JobStatus.processing})


def transcript_key(workspace_id: str, task_id: str) -> str:
    return f"outputs/{workspace_id}/{task_id}/transcript.json"


def transcribe_task(ctx: ServiceContext, payload: TaskExecutionInput) -> StepOutcome:
    job = load_job(ctx, payload.workspace_id, payload.task_id)
    if job.status.is_terminal or job.source_key is None:
        raise JobFailure(
            "cancelled" if job.status.is_terminal else "internal_error", "task cannot be transcribed"
        )
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
        )
        if working is None:
            raise JobFailure("cancelled", "task was cancelled")
        transcript = _offline(job.id, path, job.options)
    return store_transcript(ctx, payload.workspace_id, job.id, transcript)


def _offline(task_id: str, path: str, options: dict[str, object]) -> Transcript:
    from framelane.transcription.offline import transcribe_offline  # the model stack loads only where used

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
