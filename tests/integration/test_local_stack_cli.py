"""`framelane local` as a user runs it (a real subprocess), driven by the `framelane` CLI; SIGTERM stops all."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from framelane.local.processes import free_port
from tests.support.servers import hanging_server

FRAMELANE = [sys.executable, "-m", "framelane.cli"]


def _port_open(url: str) -> bool:
    host, port = re.match(r".*://([\d.]+):(\d+)", url).groups()  # type: ignore[union-attr]
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str], dict[str, str]]]:
    env = {**os.environ, "FRAMELANE_HOME": str(tmp_path)}
    port = free_port()
    process = subprocess.Popen(
        [*FRAMELANE, "local", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 90
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "API key:" in line:
            break
    ready = "".join(lines)
    match = re.search(r"ready at (\S+)\s+\(redis (\S+), moto (\S+)\)", ready)
    assert match, ready
    urls = {"api": match.group(1), "redis": match.group(2).rstrip(","), "moto": match.group(3).rstrip(")")}
    assert urls["api"] == f"http://127.0.0.1:{port}"
    try:
        yield process, env, urls
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


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
    job = json.loads(submitted.stdout)
    assert job["workspace_id"] == workspace["workspace_id"]
    assert job["options"] == {"intensity": 0.5} and job["metadata"] == {"project_id": "p1"}

    listed = cli(env, "tasks", "list", "--type", "gaze_redirect")
    assert job["id"] in listed.stdout
    assert json.loads(cli(env, "tasks", "get", job["id"]).stdout)["id"] == job["id"]
    assert json.loads(cli(env, "tasks", "cancel", job["id"]).stdout)["status"] == "cancelled"
    again = cli(env, "tasks", "cancel", job["id"])
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
