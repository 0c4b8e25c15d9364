"""Records what a service module logs (operators alert and search on these lines), in place of its Powertools
logger, as (level, message, extra)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

Logged = list[tuple[str, str, dict[str, Any] | None]]


class RecordingLogger:
    def __init__(self) -> None:
        self.lines: Logged = []

    def _record(
        self, level: str, message: str, *, extra: dict[str, Any] | None = None, exc_info: bool = False
    ) -> None:
        self.lines.append((level, message, extra))

    def info(self, message: str, **kwargs: Any) -> None:
        self._record("info", message, **kwargs)

    def warning(self, message: str, **kwargs: Any) -> None:
        self._record("warning", message, **kwargs)

    def exception(self, message: str, **kwargs: Any) -> None:
        self._record("exception", message, **kwargs)


def record_logs(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> Logged:
    recorder = RecordingLogger()
    monkeypatch.setattr(module, "logger", recorder)
    return recorder.lines
