"""All AssemblyAI access, through the official SDK (its base URL points at a stand-in in tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framelane import __version__
from framelane.models import Transcript, TranscriptGenerator, TranscriptUtterance, TranscriptWord

CALLBACK_HEADER = "X-Framelane-Callback-Secret"


@dataclass(frozen=True)
class RemoteTranscript:
    status: str  # queued | processing | completed | error
    error: str | None
    transcript: Transcript | None


class AssemblyAiClient:
    def __init__(self, api_key: str, base_url: str) -> None:
        # the SDK loads only where AssemblyAI is used: processes without a key never import it
        import assemblyai as aai

        self._aai = aai
        aai.settings.api_key = api_key
        aai.settings.base_url = base_url

    def submit(
        self, audio_url: str, options: dict[str, Any], webhook_url: str | None, webhook_secret: str
    ) -> str:
        """Create the transcript of the audio AssemblyAI fetches from `audio_url`; returns its id (the result
        comes later)."""
        analyses = set(options.get("analysis") or [])
        aai = self._aai
        config = aai.TranscriptionConfig(
            language_code=options.get("language_code"),
            language_detection=options.get("language_code") is None,
            speaker_labels=bool(options.get("speaker_labels")),
            summarization="summarization" in analyses or None,
            sentiment_analysis="sentiment" in analyses or None,
            auto_chapters="chapters" in analyses or None,
            entity_detection="entities" in analyses or None,
        )
        if webhook_url:
            config.set_webhook(webhook_url, CALLBACK_HEADER, webhook_secret)
        submitted = aai.Transcriber(config=config).submit(audio_url)
        if submitted.status == aai.TranscriptStatus.error:
            raise RuntimeError(submitted.error or "AssemblyAI refused the transcript")
        return str(submitted.id)

    def fetch(self, task_id: str, transcript_id: str, requested: dict[str, Any]) -> RemoteTranscript:
        remote = self._aai.Transcript.get_by_id(transcript_id)
        status = str(remote.status.value if hasattr(remote.status, "value") else remote.status)
        if status != "completed":
            return RemoteTranscript(status, remote.error, None)
        response = remote.json_response or {}
        return RemoteTranscript(status, None, _transcript(task_id, response, requested))


def _transcript(task_id: str, data: dict[str, Any], requested: dict[str, Any]) -> Transcript:
    words = [
        TranscriptWord(
            text=w["text"],
            start=w["start"] / 1000,
            end=w["end"] / 1000,
            confidence=float(w.get("confidence") or 0),
            speaker=w.get("speaker"),
        )
        for w in data.get("words") or []
    ]
    utterances = [
        TranscriptUtterance(
            speaker=str(u["speaker"]),
            text=u["text"],
            start=u["start"] / 1000,
            end=u["end"] / 1000,
            confidence=float(u.get("confidence") or 0),
        )
        for u in data.get("utterances") or []
    ]
    results = {
        "summarization": data.get("summary"),
        "sentiment": data.get("sentiment_analysis_results"),
        "chapters": data.get("chapters"),
        "entities": data.get("entities"),
    }
    return Transcript(
        task_id=task_id,
        engine="assemblyai",
        generator=TranscriptGenerator(
            engine="assemblyai",
            model=str(data.get("speech_model") or "default"),
            version="v2",  # the API version; AssemblyAI does not expose model versions
            software_agent=f"Framelane {__version__}",
        ),
        language_code=data.get("language_code"),
        language_confidence=data.get("language_confidence"),
        audio_duration=float(data.get("audio_duration") or 0),
        text=data.get("text") or "",
        words=words,
        utterances=utterances,
        analysis={name: results[name] for name in requested.get("analysis") or []},
    )
