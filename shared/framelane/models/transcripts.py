"""Transcripts: what a transcribe task stores and serves, and what AssemblyAI calls back with."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class TranscriptAnalysis(StrEnum):
    summarization = "summarization"
    sentiment = "sentiment"
    chapters = "chapters"
    entities = "entities"


class AssemblyAiCallback(BaseModel):
    """What AssemblyAI POSTs to the webhook URL when a transcript is done."""

    transcript_id: str
    status: str


class TranscriptWord(BaseModel):
    text: str
    start: float = Field(description="Seconds from the start of the audio.")
    end: float
    confidence: float = Field(ge=0, le=1)
    speaker: str | None = None


class TranscriptUtterance(BaseModel):
    speaker: str
    text: str
    start: float
    end: float
    confidence: float = Field(ge=0, le=1)


class TranscriptGenerator(BaseModel):
    """What made a transcript: it names its generator (engine, model, version), like Content Credentials do."""

    engine: str = Field(examples=["faster-whisper"])
    model: str = Field(examples=["whisper-base int8"])
    version: str = Field(description="Version of the engine software.", examples=["1.1.1"])
    weights_sha256: str | None = Field(default=None, description="sha256 of the model weights, when local.")
    software_agent: str = Field(description="Framelane and its version.", examples=["Framelane 0.1.0"])


class Transcript(BaseModel):
    """The transcript a transcribe task stores in S3 (`output.url`)."""

    task_id: str
    engine: Literal["assemblyai", "faster-whisper"]
    generator: TranscriptGenerator | None = None
    language_code: str | None = None
    language_confidence: float | None = None
    audio_duration: float = Field(ge=0, description="Seconds of audio.")
    text: str
    words: list[TranscriptWord] = Field(default_factory=list)
    utterances: list[TranscriptUtterance] = Field(default_factory=list)
    analysis: dict[str, Any] = Field(default_factory=dict, description="Results of the requested analyses.")
    unavailable: dict[str, str] = Field(
        default_factory=dict,
        description="Requested options this engine could not honour, with the reason (never silently dropped).",
    )


class TranscriptFormat(StrEnum):
    json = "json"
    text = "text"
    srt = "srt"
    vtt = "vtt"
