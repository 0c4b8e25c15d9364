"""`framelane local` as a user runs it (a real subprocess), driven by the `framelane` CLI; SIGTERM stops all."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from framelane.local.processes import free_port
from framelane.media.samples import make_sample_clip
from framelane.models import TaskType
from tests.support.servers import hanging_server, loopback_server

FRAMELANE = [sys.executable, "-m", "framelane.cli"]


def _port_open(url: str) -> bool:
    host, port = re.match(r".*://([\d.]+):(\d+)", url).groups()  # type: ignore[union-attr]
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


@dataclass
class LocalStack:
    process: subprocess.Popen[str]
    env: dict[str, str]
    urls: dict[str, str]
    lines: list[str] = field(default_factory=list)

    @property
    def state(self) -> dict[str, Any]:
        return dict(json.loads((Path(self.env["FRAMELANE_HOME"]) / "local.json").read_text()))

    def wait_for_line(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in list(self.lines) if text in line]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no line with {text!r} in {timeout:.0f}s: {''.join(self.lines)[-3000:]}")


@contextmanager
def running_local(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[LocalStack]:
    """`framelane local` as a subprocess, its output collected line by line; killed at the end if still up."""
    env = {**os.environ, **(env or {}), "FRAMELANE_HOME": str(tmp_path)}
    port = free_port()
    process = subprocess.Popen(
        [*FRAMELANE, "local", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack = LocalStack(process, env, {})

    def collect() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stack.lines.append(line)

    threading.Thread(target=collect, daemon=True).start()
    try:
        ready = stack.wait_for_line("ready at", timeout=90)
        match = re.search(r"ready at (\S+)\s+\(redis (\S+), moto (\S+)\)", ready)
        assert match, ready
        stack.urls.update(
            api=match.group(1), redis=match.group(2).rstrip(","), moto=match.group(3).rstrip(")")
        )
        assert stack.urls["api"] == f"http://127.0.0.1:{port}"
        stack.wait_for_line("API key:")
        yield stack
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str], dict[str, str]]]:
    with running_local(tmp_path, "--workers", "0") as stack:
        yield stack.process, stack.env, stack.urls


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FRAMELANE, *args], env=env, capture_output=True, text=True, timeout=60)


def test_local_stack_cli_round_trip_and_clean_shutdown(
    local_stack: tuple[subprocess.Popen[str], dict[str, str], dict[str, str]],
) -> None:
    process, env, urls = local_stack
    created = cli(env, "workspace", "create", "acme", "--json")
    assert created.returncode == 0, created.stderr
    workspace = json.loads(created.stdout)
    assert set(workspace) == {"workspace_id", "api_key"}
    env = {**env, "FRAMELANE_API_KEY": workspace["api_key"], "FRAMELANE_API_URL": urls["api"]}
    with hanging_server() as slow_source:  # the task stays in ingest until the server lets go
        _drive_tasks(env, workspace, slow_source)

    assert _port_open(urls["redis"]) and _port_open(urls["moto"])
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    for name in ("api", "redis", "moto"):
        assert not _port_open(urls[name]), f"{name} still listening after SIGTERM"
    assert not (Path(env["FRAMELANE_HOME"]) / "local.json").exists()


def _drive_tasks(env: dict[str, str], workspace: dict[str, str], source: str) -> None:
    submitted = cli(
        env, "tasks", "create", "gaze-redirect", source, "-o", "intensity=0.5", "-m", "project_id=p1"
    )
    assert submitted.returncode == 0, submitted.stderr
    task = json.loads(submitted.stdout)
    assert task["workspace_id"] == workspace["workspace_id"]
    assert task["options"] == {"intensity": 0.5} and task["metadata"] == {"project_id": "p1"}

    listed = cli(env, "tasks", "list", "--type", "gaze_redirect")
    assert task["id"] in listed.stdout
    assert json.loads(cli(env, "tasks", "get", task["id"]).stdout)["id"] == task["id"]
    assert json.loads(cli(env, "tasks", "cancel", task["id"]).stdout)["status"] == "cancelled"
    again = cli(env, "tasks", "cancel", task["id"])
    assert again.returncode != 0 and "task_not_cancellable" in again.stderr
    bad = cli(env, "tasks", "create", "gaze-redirect", source, "-o", "intensity=3")
    assert bad.returncode != 0 and "validation_error" in bad.stderr


def test_demo_runs_and_exits(tmp_path: Path) -> None:
    env = {**os.environ, "FRAMELANE_HOME": str(tmp_path)}
    result = subprocess.run(
        [*FRAMELANE, "local", "--port", str(free_port()), "--demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "idempotent replay → same task: True" in result.stdout
    assert "4. completed: 640×360, 2.0 s" in result.stdout
    assert "audio kept: True" in result.stdout


def _api(stack: LocalStack) -> httpx.Client:
    created = cli(stack.env, "workspace", "create", "acme", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["api_key"]
    return httpx.Client(base_url=stack.urls["api"], headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _wait_status(api: httpx.Client, task_id: str, wanted: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    task: dict[str, Any] = {}
    while time.monotonic() < deadline:
        task = api.get(f"/v1/tasks/{task_id}").json()
        if task["status"] in wanted:
            return task
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} not {wanted} after {timeout}s: {task}")


def test_tasks_cannot_reach_the_stacks_own_ports_and_the_operators_allowlist_stands(tmp_path: Path) -> None:
    # The operator's setting here is the test run's (tests/conftest.py): allowlist, 127.0.0.1/32 only.
    assert os.environ["FRAMELANE_ALLOWED_NETWORKS"] == "127.0.0.1/32"
    clip = make_sample_clip(tmp_path / "clip.mp4", seconds=0.2, width=64, height=48, audio=False)
    with (
        loopback_server() as sources,
        loopback_server("127.0.0.2") as canary,
        running_local(tmp_path / "home", "--workers", "0") as stack,
        _api(stack) as api,
    ):
        allowed = api.post(
            "/v1/tasks/gaze-redirect", json={"source_url": sources.serve_bytes("/c.mp4", clip.read_bytes())}
        )
        assert allowed.status_code == 202, allowed.text
        assert _wait_status(api, allowed.json()["id"], {"queued", "failed"})["status"] == "queued"

        outside = api.post("/v1/tasks/gaze-redirect", json={"source_url": canary.serve_bytes("/c.mp4", b"x")})
        assert outside.status_code == 422, outside.text  # 127.0.0.2 is outside the operator's allowlist

        moto, redis_port, api_port = (urlsplit(stack.urls[name]).port for name in ("moto", "redis", "api"))
        own = [
            f"http://127.0.0.1:{moto}/framelane-media/",
            f"http://127.0.0.1:{redis_port}/",
            f"http://127.0.0.1:{api_port}/healthz",
            f"http://localhost:{moto}/",
        ]
        ids = []
        for url in own:
            created = api.post("/v1/tasks/gaze-redirect", json={"source_url": url})
            assert created.status_code == 202, created.text
            ids.append(created.json()["id"])
        for task_id, url in zip(ids, own, strict=True):
            task = _wait_status(api, task_id, {"completed", "failed", "cancelled"})
            assert task["status"] == "failed" and task["error"]["code"] == "invalid_source", (url, task)
            assert "own service ports" in task["error"]["message"], (url, task)
        assert canary.requests == []


def test_workers_are_supervised_processes_redis_is_restarted_and_a_worker_can_join(tmp_path: Path) -> None:
    with running_local(tmp_path, "--workers", "1") as stack:
        first = stack.state["children"]
        assert set(first) == {"redis", "moto", "api", "worker-1"}
        os.kill(first["worker-1"], signal.SIGKILL)
        stack.wait_for_line("supervisor: worker-1 restarted as pid")
        os.kill(first["redis"], signal.SIGKILL)
        stack.wait_for_line("supervisor: redis restarted as pid")
        assert _port_open(stack.urls["redis"])  # the same URL every client holds
        second = stack.state["children"]
        assert second["worker-1"] != first["worker-1"] and second["redis"] != first["redis"]

        # a worker started from another shell finds the stack through FRAMELANE_HOME alone; the stack's own
        # worker is paused, so the task below can only be rendered by the one that joined
        os.kill(second["worker-1"], signal.SIGSTOP)
        env = {k: v for k, v in stack.env.items() if not k.startswith("FRAMELANE_") or k == "FRAMELANE_HOME"}
        joined = subprocess.Popen(
            [*FRAMELANE, "worker", "--consumer", "joined"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        clip = make_sample_clip(tmp_path / "clip.mp4", seconds=0.2, width=64, height=48, audio=False)
        try:
            with loopback_server() as sources, _api(stack) as api:
                source = sources.serve_bytes("/c.mp4", clip.read_bytes())
                body = {"source_url": source, "scale": 2, "mode": "fast"}
                created = api.post("/v1/tasks/super-resolution", json=body)
                assert created.status_code == 202, created.text
                task = _wait_status(
                    api, created.json()["id"], {"completed", "failed", "cancelled"}, timeout=120
                )
                assert task["status"] == "completed", task
            consumers = redis.Redis.from_url(stack.urls["redis"]).xinfo_consumers(
                f"framelane:tasks:{TaskType.super_resolution}:{task['workspace_id']}", "renderers"
            )
            assert [c["name"] for c in consumers if c["name"] != b"local-worker-1"] == [b"joined"]
        finally:
            os.kill(second["worker-1"], signal.SIGCONT)
            joined.terminate()
            output, _ = joined.communicate(timeout=60)
        assert "joining the local stack at " + stack.urls["api"] in output

        os.kill(second["api"], signal.SIGKILL)
        stack.wait_for_line("supervisor: api restarted as pid")
        assert httpx.get(stack.urls["api"] + "/healthz", timeout=10).status_code == 200
        os.kill(second["moto"], signal.SIGKILL)  # its state is gone: said loudly, not restarted
        stack.wait_for_line("!!! moto")
        second = stack.state["children"]

        stack.process.send_signal(signal.SIGTERM)
        assert stack.process.wait(timeout=60) == 0
        for name, pid in second.items():
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), (
                name
            )
