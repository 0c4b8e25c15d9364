"""The offline speech engine: faster-whisper (CTranslate2) with Whisper base weights from packages.

Word timestamps and language detection come from Whisper; speaker labels and the AssemblyAI analyses are not
available offline and are reported in `Transcript.unavailable`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib.metadata import version
from typing import Any

from aws_lambda_powertools import Logger
from faster_whisper import WhisperModel

from framelane import __version__
from framelane.models import Transcript, TranscriptGenerator, TranscriptWord
from framelane.transcription.audio import SAMPLE_RATE, load_audio
from framelane.weights import WHISPER_BASE, locate

logger = Logger(service="framelane-transcription")


@lru_cache(maxsize=1)
def whisper_model() -> WhisperModel:
    directory = locate(WHISPER_BASE)
    device = "cuda" if _cuda_available() else "cpu"
    compute_type = "float16" if device == "cuda" else "int8"
    logger.info(
        "loading whisper", extra={"device": device, "compute_type": compute_type, "path": str(directory)}
    )
    return WhisperModel(
        str(directory), device=device, compute_type=compute_type, cpu_threads=os.cpu_count() or 1
    )


def _cuda_available() -> bool:
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count()) > 0
    except Exception:  # no CUDA runtime at all
        return False


def transcribe_offline(task_id: str, path: str, options: dict[str, Any]) -> Transcript:
    audio = load_audio(path)
    language = options.get("language_code")
    segments, info = whisper_model().transcribe(
        audio,
        language=language.split("_")[0] if language else None,
        word_timestamps=True,
        vad_filter=True,
        beam_size=5,
    )
    words: list[TranscriptWord] = []
    for segment in segments:
        for word in segment.words or []:
            text = word.word.strip()
            if text:
                words.append(
                    TranscriptWord(
                        text=text,
                        start=round(word.start, 3),
                        end=round(word.end, 3),
                        confidence=round(min(max(word.probability, 0.0), 1.0), 4),
                    )
                )
    unavailable = {}
    if options.get("speaker_labels"):
        unavailable["speaker_labels"] = "speaker labels need the AssemblyAI engine"
    for analysis in options.get("analysis") or []:
        unavailable[str(analysis)] = "analyses need the AssemblyAI engine"
    return Transcript(
        task_id=task_id,
        engine="faster-whisper",
        generator=TranscriptGenerator(
            engine="faster-whisper",
            model=WHISPER_BASE.name,
            version=version("faster-whisper"),
            weights_sha256=next(f.sha256 for f in WHISPER_BASE.files if f.name == "model.bin"),
            software_agent=f"Framelane {__version__}",
        ),
        language_code=info.language,
        language_confidence=round(info.language_probability, 4),
        audio_duration=round(len(audio) / SAMPLE_RATE, 3),
        text=" ".join(w.text for w in words),
        words=words,
        unavailable=unavailable,
    )
