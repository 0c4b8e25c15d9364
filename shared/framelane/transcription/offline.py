"""The offline speech engine: faster-whisper (CTranslate2) with Whisper base weights from packages.

Silero voice-activity detection (shipped with faster-whisper) keeps music and noise away from Whisper, which
would otherwise hear words in them. Word timestamps and language detection come from Whisper; speaker labels and the AssemblyAI analyses are not
available offline and are reported in `Transcript.unavailable`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from functools import lru_cache
from importlib.metadata import version
from typing import Any

from aws_lambda_powertools import Logger
from faster_whisper import WhisperModel, decode_audio
from faster_whisper.transcribe import Segment

from framelane import __version__
from framelane.logs import SERVICE
from framelane.models import Transcript, TranscriptGenerator, TranscriptWord
from framelane.native_logs import model_loaded, quiet_native_stderr
from framelane.transcription import pace
from framelane.weights import WHISPER_BASE, locate

logger = Logger(service=SERVICE, child=True)

SAMPLE_RATE = 16_000  # what Whisper listens at; decode_audio resamples the first audio track to it


@lru_cache(maxsize=1)
def whisper_model() -> WhisperModel:
    directory = locate(WHISPER_BASE)
    started = time.perf_counter()
    with quiet_native_stderr():
        device = "cuda" if _cuda_available() else "cpu"
        compute_type = "float16" if device == "cuda" else "int8"
        model = WhisperModel(
            str(directory), device=device, compute_type=compute_type, cpu_threads=os.cpu_count() or 1
        )
    model_loaded(logger, f"whisper-base {compute_type}", device, started)
    return model


def _cuda_available() -> bool:
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count()) > 0
    except Exception:  # no CUDA runtime at all
        return False


HALLUCINATION_CONFIDENCE = 0.4


def spoken_words(segments: Iterable[Segment]) -> list[TranscriptWord]:
    """The words of `segments`, less Whisper's typical hallucination on music or noise that got past the voice
    activity filter: a segment that is a single word said with low confidence ("Hmm", 0.10)."""
    words: list[TranscriptWord] = []
    for segment in segments:
        said = [word for word in segment.words or [] if word.word.strip()]
        if len(said) == 1 and said[0].probability < HALLUCINATION_CONFIDENCE:
            logger.info("dropped a lone low-confidence word", extra={"confidence": said[0].probability})
            continue
        words.extend(
            TranscriptWord(
                text=word.word.strip(),
                start=round(word.start, 3),
                end=round(word.end, 3),
                confidence=round(min(max(word.probability, 0.0), 1.0), 4),
            )
            for word in said
        )
    return words


def transcribe_offline(task_id: str, path: str, options: dict[str, Any]) -> Transcript:
    started = time.perf_counter()
    audio = decode_audio(path, sampling_rate=SAMPLE_RATE)
    language = options.get("language_code")
    segments, info = whisper_model().transcribe(
        audio,
        language=language.split("_")[0] if language else None,
        word_timestamps=True,
        vad_filter=True,
        beam_size=5,
    )
    words = spoken_words(segments)  # the segments are decoded while this iterates
    pace.record(len(audio) / SAMPLE_RATE, time.perf_counter() - started)
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
