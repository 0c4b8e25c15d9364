"""Helpers for pipeline tests: wait for a task to end, run a worker in a thread or a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from framelane.config import Settings
from framelane.engines.base import EngineRegistry
from framelane.services.context import ServiceContext
from framelane.worker.runtime import RendererWorker, worker_from_settings
from tests.support.engines import register

from .conftest import settings_environment

REPO = Path(__file__).resolve().parents[2]


def wait_for_task(
    api: httpx.Client, task_id: str, *, timeout: float = 90, until: set[str] | None = None
) -> dict[str, Any]:
    wanted = until or {"completed", "failed", "cancelled"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = api.get(f"/v1/tasks/{task_id}").json()
        if task["status"] in wanted:
            return dict(task)
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} still {task['status']} after {timeout}s: {task}")


def wait_for_task_condition(
    api: httpx.Client, task_id: str, condition: Callable[[dict[str, Any]], bool], *, timeout: float, what: str
) -> dict[str, Any]:
    """Poll the task until `condition` holds; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = api.get(f"/v1/tasks/{task_id}").json()
        if condition(task):
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} not {what} after {timeout}s: {task}")
        time.sleep(0.1)


@contextmanager
def thread_worker(
    ctx: ServiceContext, name: str = "test-worker", registry: EngineRegistry | None = None
) -> Iterator[RendererWorker]:
    """A worker thread; by default with the test-only engine, or with `registry` (e.g. the real engines)."""
    if registry is None:
        registry = EngineRegistry()
        register(registry)
    worker = worker_from_settings(ctx, registry, consumer=name)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stopping.set()
        thread.join(30)


def spawn_worker(settings: Settings, name: str, engine_delay: float = 0) -> subprocess.Popen[bytes]:
    env = {
        **settings_environment(settings),
        "FRAMELANE_ENGINE_PLUGINS": "tests.support.engines:register",
        "FRAMELANE_TEST_ENGINE_DELAY": str(engine_delay),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "framelane.cli", "worker", "--consumer", name], env=env, cwd=REPO
    )
