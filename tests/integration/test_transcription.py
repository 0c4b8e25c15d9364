"""transcribe: espeak-ng speech → offline engine (faster-whisper) → transcript exports; no speech; no audio."""

from __future__ import annotations

import re
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from framelane.media.samples import make_sample_clip
from framelane.transcription.offline import transcribe_offline
from tests.support.servers import LoopbackServer, loopback_server
from tests.support.wer import word_error_rate

from .pipeline_helpers import wait_for_task

SENTENCES = [
    "Please send the report to the team before noon.",
    "We can run the video processing on a graphics card or on the main processor.",
    "My favorite color is green and I like to walk in the park.",
]
SRT_TIME = r"(\d\d):(\d\d):(\d\d),(\d\d\d)"


def speak(text: str, path: Path) -> Path:
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    return path


@pytest.fixture
def origin() -> Iterator[LoopbackServer]:
    with loopback_server() as server:
        yield server


def test_offline_engine_word_error_rate(tmp_path: Path) -> None:
    rates = {}
    for i, sentence in enumerate(SENTENCES):
        transcript = transcribe_offline("task_wer", str(speak(sentence, tmp_path / f"{i}.wav")), {})
        rates[sentence] = word_error_rate(sentence, transcript.text)
        assert transcript.language_code == "en"
        assert all(w.start <= w.end for w in transcript.words)
        assert transcript.generator is not None and transcript.generator.model == "whisper-base"
    print("WER per sentence:", rates)
    assert all(rate <= 0.2 for rate in rates.values()), rates


def _seconds(stamp: str) -> float:
    h, m, s, ms = (int(x) for x in re.fullmatch(SRT_TIME.replace(",", "[,.]"), stamp).groups())  # type: ignore[union-attr]
    return h * 3600 + m * 60 + s + ms / 1000


def _check_cues(blocks: list[list[str]], chars: int) -> None:
    previous_end = 0.0
    for block in blocks:
        start, _, end = block[0].partition(" --> ")
        assert _seconds(start) >= previous_end and _seconds(end) > _seconds(start), block
        previous_end = _seconds(end)
        text = " ".join(block[1:])
        assert len(text) <= chars or " " not in text, text


def test_transcribe_task_with_exports(papi: httpx.Client, origin: LoopbackServer, tmp_path: Path) -> None:
    text = " ".join(SENTENCES)
    source = origin.serve_bytes("/speech.wav", speak(text, tmp_path / "speech.wav").read_bytes(), "audio/wav")
    created = papi.post(
        "/v1/tasks/transcribe",
        json={
            "source_url": source,
            "language_code": "en",
            "speaker_labels": True,
            "analysis": ["summarization"],
        },
    )
    assert created.status_code == 202
    task_id = created.json()["id"]
    early = papi.get(
        f"/v1/tasks/{task_id}/transcript"
    )  # ingest and transcription take seconds: not ready yet
    assert (early.status_code, early.json()["error"]["code"]) == (409, "transcript_not_ready")
    task = wait_for_task(papi, task_id, timeout=180)
    assert task["status"] == "completed", task
    transcript = papi.get(f"/v1/tasks/{task_id}/transcript").json()
    assert (
        task["output"]["duration"] == pytest.approx(transcript["audio_duration"], abs=0.01)
        and transcript["audio_duration"] > 5
    )
    assert word_error_rate(text, transcript["text"]) <= 0.2
    assert set(transcript["unavailable"]) == {"speaker_labels", "summarization"}  # reported, not dropped

    plain = papi.get(f"/v1/tasks/{task_id}/transcript", params={"format": "text"})
    assert plain.headers["content-type"].startswith("text/plain") and plain.text == transcript["text"]

    srt = papi.get(f"/v1/tasks/{task_id}/transcript", params={"format": "srt", "chars_per_caption": 24}).text
    blocks = [b.splitlines() for b in srt.strip().split("\n\n")]
    assert [int(b[0]) for b in blocks] == list(range(1, len(blocks) + 1))
    assert all(re.fullmatch(f"{SRT_TIME} --> {SRT_TIME}", b[1]) for b in blocks)
    _check_cues([b[1:] for b in blocks], 24)

    vtt = papi.get(f"/v1/tasks/{task_id}/transcript", params={"format": "vtt"}).text
    assert vtt.startswith("WEBVTT\n\n")
    _check_cues([b.splitlines() for b in vtt.removeprefix("WEBVTT\n\n").strip().split("\n\n")], 32)


def test_silent_audio_is_no_speech(papi: httpx.Client, origin: LoopbackServer, tmp_path: Path) -> None:
    clip = make_sample_clip(tmp_path / "silent.mp4", seconds=3, audio=True, tone=False).read_bytes()
    created = papi.post("/v1/tasks/transcribe", json={"source_url": origin.serve_bytes("/silent.mp4", clip)})
    task = wait_for_task(papi, created.json()["id"], timeout=120)
    assert (task["status"], task["error"]["code"]) == ("failed", "no_speech_detected")


def chords_wav(path: Path, seconds: int = 8) -> Path:
    """Music and nothing else: a chord progression (two harmonics per note, plucked envelope) over soft noise."""
    rate = 16_000
    t = np.arange(rate) / rate
    envelope = np.minimum(1, t * 20) * np.exp(-t * 1.5)
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
    music = np.concatenate(
        [
            sum(np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t) for f in chords[i % 4])
            * envelope
            / 3
            for i in range(seconds)
        ]
    )
    noisy = 0.5 * music + 0.02 * np.random.default_rng(0).standard_normal(len(music))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(noisy, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def test_music_alone_is_no_speech(papi: httpx.Client, origin: LoopbackServer, tmp_path: Path) -> None:
    music = chords_wav(tmp_path / "music.wav").read_bytes()
    created = papi.post(
        "/v1/tasks/transcribe", json={"source_url": origin.serve_bytes("/music.wav", music, "audio/wav")}
    )
    task = wait_for_task(papi, created.json()["id"], timeout=120)
    assert (task["status"], task["error"]["code"]) == ("failed", "no_speech_detected")


def test_video_without_audio_is_unsupported(
    papi: httpx.Client, origin: LoopbackServer, tmp_path: Path
) -> None:
    clip = make_sample_clip(tmp_path / "mute.mp4", seconds=1, audio=False).read_bytes()
    created = papi.post("/v1/tasks/transcribe", json={"source_url": origin.serve_bytes("/mute.mp4", clip)})
    task = wait_for_task(papi, created.json()["id"], timeout=60)
    assert (task["status"], task["error"]["code"]) == ("failed", "unsupported_media")


def test_transcript_of_a_renderer_task_is_404(papi: httpx.Client) -> None:
    task = papi.post("/v1/tasks/gaze-redirect", json={"source_url": "http://127.0.0.1:9/x.mp4"}).json()
    response = papi.get(f"/v1/tasks/{task['id']}/transcript")
    assert response.status_code == 404
    # the route's own answer, not the generic 404 of a path that does not exist
    assert response.json()["error"] == {
        "code": "not_found",
        "message": f"transcribe task {task['id']} not found",
    }
