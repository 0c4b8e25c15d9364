"""The local stack's supervisor on real, short-lived processes: restarts, backoff, and what it never restarts."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from framelane.local.processes import ChildService
from framelane.local.supervisor import Supervisor


def _starter(tmp_path: Path, seconds: float) -> tuple[Callable[[], ChildService], list[int]]:
    pids: list[int] = []

    def start() -> ChildService:
        process = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])
        pids.append(process.pid)
        return ChildService("child", "child", process, tmp_path / "child.log")

    return start, pids


def _wait(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_child_that_exits_is_restarted_and_one_that_keeps_failing_backs_off(tmp_path: Path) -> None:
    lines: list[str] = []
    start, pids = _starter(tmp_path, 0)
    changes: list[int] = []
    supervisor = Supervisor(lines.append, on_change=lambda: changes.append(1))
    supervisor.add("crashy", start)
    supervisor.start()
    try:
        _wait(lambda: supervisor.restarts()["crashy"] >= 3)
        began = time.monotonic()
        restarts = supervisor.restarts()["crashy"]
        time.sleep(3)
        # back-off doubles from 0.5 s: at most a few more starts in 3 s, not one every check (6)
        assert supervisor.restarts()["crashy"] - restarts <= 3, time.monotonic() - began
    finally:
        supervisor.stop()
    assert len(changes) == supervisor.restarts()["crashy"] == len(pids) - 1
    assert any(line.startswith("supervisor: crashy (pid") and "exited with 0" in line for line in lines)
    assert supervisor.pids()["crashy"] == pids[-1]


def test_a_child_marked_not_to_restart_is_reported_once_and_left_down(tmp_path: Path) -> None:
    lines: list[str] = []
    start, pids = _starter(tmp_path, 0)
    supervisor = Supervisor(lines.append)
    supervisor.add("moto", start, restart=False)
    supervisor.start()
    try:
        _wait(lambda: any(line.startswith("!!! moto") for line in lines))
        time.sleep(1.5)
    finally:
        supervisor.stop()
    assert len(pids) == 1 and supervisor.restarts()["moto"] == 0
    assert len([line for line in lines if "moto" in line]) == 1


def test_stop_ends_the_children_and_does_not_restart_them(tmp_path: Path) -> None:
    lines: list[str] = []
    start, pids = _starter(tmp_path, 60)
    supervisor = Supervisor(lines.append)
    service = supervisor.add("worker-1", start)
    supervisor.start()
    supervisor.stop()
    assert service.process.poll() is not None
    time.sleep(1)
    assert pids == [service.process.pid] and lines == []
