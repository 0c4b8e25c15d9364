"""The OpenAPI document is the truth: schemathesis, every check and all four phases, against a real
`framelane local` (scripts/openapi_fuzz.py; `make fuzz` is the large run). A small budget here.

Generated URLs reach the real pipeline, so the run happens in a network namespace that holds only loopback
(`unshare --net`, which needs root); where none can be made, the run is skipped with that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = os.environ.get("FRAMELANE_FUZZ_EXAMPLES", "4")  # per operation and phase; `make fuzz` runs 200
SEED = os.environ.get(
    "FRAMELANE_FUZZ_SEED", "1"
)  # fixed, so a failure here reproduces; `make fuzz` varies it


def _can_make_a_loopback_namespace() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False, timeout=30)
    return probe.returncode == 0


def test_schemathesis_finds_nothing_on_the_local_stack() -> None:
    if not _can_make_a_loopback_namespace():
        pytest.skip("no loopback-only network namespace here (`unshare --net` needs root)")
    result = subprocess.run(
        [sys.executable, "scripts/openapi_fuzz.py", "--max-examples", EXAMPLES, "--seed", SEED],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-12000:]
    assert "Stateful" in output and "API Links" in output  # the stateful phase ran and followed links
