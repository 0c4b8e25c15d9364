"""Keeps the local stack's child processes alive: a child that exits is logged and, where that is safe,
started again (same port, same consumer name) with a backoff so a child that cannot start does not spin.

moto_server is not restarted: its tables and objects come back from the journal, but its queues and executions
live in its memory only, and the running pollers and API hold its URL. Its death is logged loudly instead; the
operator restarts `framelane local`, which resumes unfinished tasks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from framelane.local.processes import ChildService, ServiceStartError

CHECK_INTERVAL = 0.5
MAX_BACKOFF = 30.0
STABLE_AFTER = 30.0  # a child that ran this long was healthy: its next crash restarts it at once


@dataclass
class _Child:
    start: Callable[[], ChildService]
    restart: bool
    service: ChildService
    started_at: float
    restarts: int = 0
    failures: int = 0  # consecutive quick exits, for the backoff
    next_start: float = 0.0
    reported: bool = False


class Supervisor:
    def __init__(self, echo: Callable[[str], None], on_change: Callable[[], None] = lambda: None) -> None:
        self.echo = echo
        self.on_change = on_change
        self._children: dict[str, _Child] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def add(self, name: str, start: Callable[[], ChildService], *, restart: bool = True) -> ChildService:
        """Start a child now and watch it from then on."""
        service = start()
        with self._lock:
            self._children[name] = _Child(start, restart, service, time.monotonic())
        return service

    def start(self) -> None:
        self._thread.start()

    def pids(self) -> dict[str, int]:
        with self._lock:
            return {name: child.service.process.pid for name, child in self._children.items()}

    def restarts(self) -> dict[str, int]:
        with self._lock:
            return {name: child.restarts for name, child in self._children.items()}

    def stop(self) -> None:
        """Stop watching, then stop the children, last started first (workers before the stores they use)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with self._lock:
            children = list(self._children.values())
        for child in reversed(children):
            child.service.stop()

    def _watch(self) -> None:
        while not self._stopping.wait(CHECK_INTERVAL):
            with self._lock:
                names = list(self._children)
            for name in names:
                if self._stopping.is_set():
                    return
                self._check(name, self._children[name])

    def _check(self, name: str, child: _Child) -> None:
        code = child.service.process.poll()
        if code is None:
            return
        now = time.monotonic()
        if not child.restart:
            if not child.reported:
                child.reported = True
                self.echo(
                    f"!!! {name} (pid {child.service.process.pid}) exited with {code} and is not restarted; "
                    f"stop and restart `framelane local` (log: {child.service.log_path})"
                )
            return
        if not child.reported:
            child.reported = True
            child.failures = 0 if now - child.started_at >= STABLE_AFTER else child.failures + 1
            child.next_start = now + _backoff(child.failures)
            self.echo(f"supervisor: {name} (pid {child.service.process.pid}) exited with {code}; restarting")
        if now < child.next_start:
            return
        try:
            service = child.start()
        except ServiceStartError as exc:
            child.failures += 1
            child.next_start = now + _backoff(child.failures)
            self.echo(f"supervisor: {name} did not start again ({exc}); retrying")
            return
        with self._lock:
            child.service, child.started_at, child.reported = service, time.monotonic(), False
            child.restarts += 1
        self.echo(f"supervisor: {name} restarted as pid {service.process.pid} (restart {child.restarts})")
        self.on_change()


def _backoff(failures: int) -> float:
    return 0.0 if failures == 0 else min(MAX_BACKOFF, 0.5 * 2 ** (failures - 1))
