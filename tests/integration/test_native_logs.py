"""Quiet logs: loading every model and running a frame prints nothing on stderr, one structured line per model
load on stdout; what the native code prints that is not known probing chatter still reaches stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys

LOAD_ALL = """
import sys
import numpy as np
from framelane.engines.background import BackgroundRemover
from framelane.engines.gaze import GazeRedirector
from framelane.engines.super_resolution import LearnedUpscaler
from framelane.transcription.offline import whisper_model
from framelane.weights import SELFIE_SEGMENTATION, locate

frame = np.full((144, 256, 3), 128, np.uint8)
BackgroundRemover(locate(SELFIE_SEGMENTATION)).process(frame)
GazeRedirector(1.0).process(frame)
LearnedUpscaler(2).process(frame[:32, :32])
whisper_model()
print("END", file=sys.stderr, flush=True)
"""

PASS_THROUGH = """
import os
from framelane.native_logs import quiet_native_stderr

with quiet_native_stderr():
    os.write(2, b"INFO: [gpu_registry.cc:130] Attempting to load GPU accelerator\\n")
    os.write(2, b"ERROR: the model file is corrupt\\n")
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FRAMELANE_LITERT_DEVICE": "auto", "FRAMELANE_SR_DEVICE": "auto"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, check=True
    )


def test_model_loads_print_one_structured_line_each_and_nothing_on_stderr() -> None:
    result = _run(LOAD_ALL)
    during, _, teardown = result.stderr.partition("END\n")
    assert during == ""
    # a process-wide LiteRT environment says goodbye from a C++ static destructor, after Python has finished
    assert all("DestroyAccelerator" in line for line in teardown.splitlines()), teardown
    assert len(teardown.splitlines()) <= 2
    loads = [json.loads(line) for line in result.stdout.splitlines() if '"model loaded"' in line]
    models = [record["model"] for record in loads]
    assert len(models) == len(set(models)) == 7, models  # 2 segmentation + 3 face/iris + SPAN + whisper
    assert all(record["device"] and record["load_seconds"] >= 0 for record in loads)


def test_what_is_not_chatter_still_reaches_stderr() -> None:
    assert _run(PASS_THROUGH).stderr.splitlines() == ["ERROR: the model file is corrupt"]
