"""Transcript exports: plain text, SRT and WebVTT captions split like AssemblyAI's (`chars_per_caption`)."""

from __future__ import annotations

from framelane.models import Transcript, TranscriptWord

DEFAULT_CHARS_PER_CAPTION = 32
MAX_CAPTION_SECONDS = 6.0
SENTENCE_END = (".", "?", "!")


def caption_groups(words: list[TranscriptWord], chars_per_caption: int) -> list[list[TranscriptWord]]:
    """Consecutive words per caption: at most `chars_per_caption` characters (a longer single word stands
    alone), at most 6 s, and a new caption after a sentence ends or a pause of a second or more."""
    groups: list[list[TranscriptWord]] = []
    current: list[TranscriptWord] = []
    for word in words:
        if current:
            length = sum(len(w.text) for w in current) + len(current) + len(word.text)
            ends_sentence = current[-1].text.endswith(SENTENCE_END)
            too_long = length > chars_per_caption or word.end - current[0].start > MAX_CAPTION_SECONDS
            if too_long or ends_sentence or word.start - current[-1].end >= 1.0:
                groups.append(current)
                current = []
        current.append(word)
    if current:
        groups.append(current)
    return groups


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(transcript: Transcript, chars_per_caption: int) -> list[tuple[float, float, str]]:
    cues = []
    previous_end = 0.0
    for group in caption_groups(transcript.words, chars_per_caption):
        start = max(group[0].start, previous_end)  # time-ordered, never overlapping
        end = max(group[-1].end, start + 0.001)
        cues.append((start, end, " ".join(w.text for w in group)))
        previous_end = end
    return cues


def to_srt(transcript: Transcript, chars_per_caption: int = DEFAULT_CHARS_PER_CAPTION) -> str:
    blocks = [
        f"{index}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{text}\n"
        for index, (start, end, text) in enumerate(_cues(transcript, chars_per_caption), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(transcript: Transcript, chars_per_caption: int = DEFAULT_CHARS_PER_CAPTION) -> str:
    blocks = [
        f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{text}\n"
        for start, end, text in _cues(transcript, chars_per_caption)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)
