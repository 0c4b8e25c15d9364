"""Offline transcription: real-time factor and memory of the whole task path (S3 download → engine → transcript
stored → task completed) next to raw faster-whisper on the same audio, and pocketsphinx (packaged model) as a
reference for speed and word error rate. Prints figures; asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/transcribe_bench.py
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
from faster_whisper import decode_audio

from framelane.config import Settings
from framelane.local.bootstrap import bootstrap_stores
from framelane.local.processes import aws_environment, running_services
from framelane.models import TaskExecutionInput, TaskType, TranscribeRequest
from framelane.services.context import build_context
from framelane.services.ingest import ingest
from framelane.services.tasks import create_task
from framelane.services.transcription import transcribe_task
from framelane.services.uploads import upload_prefix
from framelane.services.workspaces import authenticate, create_workspace
from framelane.transcription.offline import SAMPLE_RATE, whisper_model
from tests.support.wer import word_error_rate

TEXT = (
    "Please send the report to the team before noon. We can run the video processing on a graphics card or on "
    "the main processor. My favorite color is green and I like to walk in the park."
)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_whisper(path: str) -> tuple[float, str]:
    audio = decode_audio(path, sampling_rate=SAMPLE_RATE)
    start = time.perf_counter()
    segments, _ = whisper_model().transcribe(audio, word_timestamps=True, vad_filter=True, beam_size=5)
    text = " ".join(segment.text.strip() for segment in segments)
    return time.perf_counter() - start, text


def pocketsphinx_run(path: str) -> tuple[float, str]:
    from pocketsphinx import Decoder

    with wave.open(path) as handle:
        rate = handle.getframerate()
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    decoder = Decoder(samprate=rate)
    start = time.perf_counter()
    decoder.start_utt()
    decoder.process_raw(data.tobytes(), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return time.perf_counter() - start, hypothesis.hypstr if hypothesis else ""


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="framelane-bench-"))
    speech = workdir / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(speech), TEXT], check=True)
    with wave.open(str(speech)) as handle:
        duration = handle.getnframes() / handle.getframerate()
    print(f"{duration:.1f} s of espeak-ng speech, {os.cpu_count()} CPU threads, whisper base int8")
    whisper_model()  # load once, outside every timing
    runs = [raw_whisper(str(speech)) for _ in range(2)]  # best of two, like the task path gets a warm model
    raw_seconds, raw_text = min(runs)
    print(
        f"  raw faster-whisper       {raw_seconds:6.2f} s  RTF {raw_seconds / duration:5.3f}  "
        f"WER {word_error_rate(TEXT, raw_text):5.1%}"
    )

    with running_services(workdir) as (redis_service, moto_service):
        os.environ.update(aws_environment(moto_service.url))
        ctx = build_context(Settings(aws_endpoint_url=moto_service.url, redis_url=redis_service.url))
        bootstrap_stores(ctx)
        workspace = authenticate(ctx, create_workspace(ctx, "bench").api_key)
        key = f"{upload_prefix(workspace.id)}files/speech.wav"
        ctx.blobs.upload_file(str(speech), key)
        request = TranscribeRequest(source_url=f"s3://{ctx.blobs.bucket}/{key}")
        task = create_task(ctx, workspace, TaskType.transcribe, request, None).task
        payload = TaskExecutionInput(
            task_id=task.id,
            workspace_id=workspace.id,
            task_type=TaskType.transcribe,
            source_url=request.source_url,
        )
        ingest(ctx, payload)
        start = time.perf_counter()
        transcribe_task(ctx, payload, "bench-token")
        task_seconds = time.perf_counter() - start
        stored = ctx.store.get_task(workspace.id, task.id)
        assert stored is not None and stored.status == "completed"
    print(
        f"  whole task path          {task_seconds:6.2f} s  RTF {task_seconds / duration:5.3f}  "
        f"= {task_seconds / raw_seconds:4.2f} × raw (goal ≤ 1.1)"
    )
    print(f"  peak RSS of this process {peak_rss_mib():6.0f} MiB")
    ps_seconds, ps_text = pocketsphinx_run(str(speech))
    ps_wer = word_error_rate(TEXT, ps_text)
    print(
        f"  pocketsphinx (packaged)  {ps_seconds:6.2f} s  RTF {ps_seconds / duration:5.3f}  WER {ps_wer:5.1%}  "
        f"→ whisper is {ps_seconds / raw_seconds:4.2f}× its speed at "
        f"{word_error_rate(TEXT, raw_text) / max(ps_wer, 1e-9):4.2f}× its WER"
    )


if __name__ == "__main__":
    main()
