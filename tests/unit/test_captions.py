from framelane.models import Transcript, TranscriptWord
from framelane.transcription.captions import caption_groups, to_srt, to_vtt
from tests.support.wer import word_error_rate


def _transcript(words: list[tuple[str, float, float]]) -> Transcript:
    return Transcript(
        task_id="task_1",
        engine="faster-whisper",
        audio_duration=10,
        text=" ".join(w for w, _, _ in words),
        words=[TranscriptWord(text=w, start=s, end=e, confidence=0.9) for w, s, e in words],
    )


WORDS = [
    ("Hello", 0.0, 0.4),
    ("there,", 0.4, 0.8),
    ("general", 0.9, 1.3),
    ("Kenobi.", 1.3, 1.9),
    ("You", 3.5, 3.7),
    ("are", 3.7, 3.9),
    ("a", 3.9, 4.0),
    ("bold", 4.0, 4.3),
    ("one.", 4.3, 4.8),
]


def test_groups_respect_length_sentence_ends_and_pauses() -> None:
    groups = caption_groups(_transcript(WORDS).words, chars_per_caption=16)
    texts = [" ".join(w.text for w in g) for g in groups]
    assert texts == ["Hello there,", "general Kenobi.", "You are a bold", "one."]
    assert all(len(t) <= 16 for t in texts)


def test_srt_format() -> None:
    srt = to_srt(_transcript(WORDS), chars_per_caption=32)
    assert srt.splitlines()[:3] == ["1", "00:00:00,000 --> 00:00:01,900", "Hello there, general Kenobi."]
    assert "2\n00:00:03,500 --> 00:00:04,800\nYou are a bold one.\n" in srt


def test_vtt_format() -> None:
    vtt = to_vtt(_transcript(WORDS))
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.900\nHello there, general Kenobi.\n")


def test_overlapping_word_times_still_give_ordered_cues() -> None:
    srt = to_srt(_transcript([("a.", 1.0, 2.0), ("b.", 1.5, 1.6)]))
    assert "00:00:02,000 --> 00:00:02,001" in srt


def test_word_error_rate() -> None:
    assert word_error_rate("the cat sat", "the cat sat") == 0
    assert word_error_rate("the cat sat", "The cat, sat!") == 0
    assert word_error_rate("the cat sat", "the bat sat down") == 2 / 3
    assert word_error_rate("a b c d", "") == 1
