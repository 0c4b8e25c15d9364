"""GET /v1/tasks/{id}/transcript: the stored transcript as JSON, text, SRT or WebVTT."""

from __future__ import annotations

from framelane.errors import NotFound, TranscriptNotReady
from framelane.models import TaskStatus, TaskType, Transcript, TranscriptFormat, Workspace
from framelane.services.context import ServiceContext
from framelane.transcription.captions import to_srt, to_vtt

MEDIA_TYPES = {
    TranscriptFormat.json: "application/json",
    TranscriptFormat.text: "text/plain; charset=utf-8",
    TranscriptFormat.srt: "application/x-subrip; charset=utf-8",
    TranscriptFormat.vtt: "text/vtt; charset=utf-8",
}


def get_transcript(
    ctx: ServiceContext, workspace: Workspace, task_id: str, fmt: TranscriptFormat, chars_per_caption: int
) -> tuple[str, str]:
    task = ctx.store.get_task(workspace.id, task_id) if task_id.startswith("task_") else None
    if task is None or task.task_type is not TaskType.transcribe:
        raise NotFound(f"transcribe task {task_id} not found")
    if task.status is not TaskStatus.completed or task.output_key is None:
        raise TranscriptNotReady(
            f"task {task_id} is {task.status}; the transcript exists once it is completed"
        )
    transcript = Transcript.model_validate_json(ctx.blobs.get_bytes(task.output_key))
    content = {
        TranscriptFormat.json: lambda: transcript.model_dump_json(),
        TranscriptFormat.text: lambda: transcript.text,
        TranscriptFormat.srt: lambda: to_srt(transcript, chars_per_caption),
        TranscriptFormat.vtt: lambda: to_vtt(transcript, chars_per_caption),
    }[fmt]()
    return content, MEDIA_TYPES[fmt]
