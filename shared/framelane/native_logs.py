"""Native model runtimes (LiteRT, ncnn, CTranslate2) print their plugin and driver probing straight to file
descriptor 2 from C++, where no Python logging setting reaches: about 20 lines per LiteRT model load. Model
loads run inside `quiet_native_stderr()`, which keeps fd 2 in a temporary file meanwhile and passes on
whatever is not known probing chatter (errors, and anything another thread wrote), so warnings that matter
still come through; `model_loaded` writes the one structured line per load instead."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger

# Probing that is normal on every host: accelerators and vendor plugins being looked for, found or not.
CHATTER = re.compile(
    r"INFO: "
    r"|WARNING: \[(npu_registry|compiler_plugin)\.cc"
    r"|└ Could not load shared library"
    r"|dlopen failed libvulkan"
    r"|load vulkan driver failed"
)
_redirect = threading.RLock()  # fd 2 is process-wide: one redirection at a time (nested ones are harmless)


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """fd 2 goes to a temporary file for the duration; afterwards its lines, less CHATTER, go to stderr."""
    with _redirect, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [
                line
                for line in sink.read().decode(errors="replace").splitlines(keepends=True)
                if not CHATTER.match(line)
            ]
            if kept:
                os.write(2, "".join(kept).encode())


def model_loaded(logger: Logger, model: str, device: str, started: float) -> None:
    """The one structured line per model load; `started` is the load's time.perf_counter()."""
    logger.info(
        "model loaded",
        extra={"model": model, "device": device, "load_seconds": round(time.perf_counter() - started, 3)},
    )
