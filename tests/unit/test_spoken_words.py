"""The hallucination filter on Whisper's segments: a lone low-confidence word is dropped, real speech is kept."""

from __future__ import annotations

from faster_whisper.transcribe import Segment, Word

from framelane.transcription.offline import spoken_words


def _segment(*words: tuple[str, float]) -> Segment:
    return Segment(
        id=0,
        seek=0,
        start=0.0,
        end=1.0,
        text="".join(w for w, _ in words),
        tokens=[],
        avg_logprob=-0.5,
        compression_ratio=1.0,
        no_speech_prob=0.1,
        words=[
            Word(start=i * 0.3, end=i * 0.3 + 0.2, word=w, probability=p) for i, (w, p) in enumerate(words)
        ],
        temperature=0.0,
    )


def test_a_lone_low_confidence_word_is_dropped() -> None:
    assert spoken_words([_segment((" Hmm", 0.10))]) == []


def test_confident_single_words_and_sentences_are_kept() -> None:
    words = spoken_words([_segment((" Yes.", 0.92)), _segment((" I", 0.2), (" think", 0.9), (" so", 0.3))])
    assert [(w.text, w.confidence) for w in words] == [
        ("Yes.", 0.92),
        ("I", 0.2),
        ("think", 0.9),
        ("so", 0.3),
    ]


def test_blank_words_do_not_count() -> None:
    assert spoken_words([_segment((" ", 0.9), (" Hmm", 0.1))]) == []
