"""The worker image without a Docker engine: a clean virtualenv built the way containers/renderer/Dockerfile builds
the image — the `worker` extra's requirements (read from pyproject.toml by the same code), then the project from its
wheel without dependencies — runs the image's entrypoint commands against real redis-server and moto.

Two ways to get the extra's requirements into that virtualenv:
- `make image-test` (FRAMELANE_IMAGE_VENV set): pip installs them from the package index into a fresh venv,
  exactly the Dockerfile's `pip install -r` (measured here: 8 min 25 s, 1.1 GB, so not in the default suite);
- the default suite: the distributions the extra resolves to are linked from this project's venv (found through
  each distribution's metadata, versions checked against the requirements; nothing else is on the path).
Either way the OS layer (CUDA base image, apt packages) is not exercised here; hadolint lints the Dockerfile."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.requirements import Requirement

from framelane.local.processes import aws_environment, free_port
from framelane.models import TaskType
from framelane.weights import models_dir
from infra.packaging import REPO, requirements
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration
ENTRYPOINT = REPO / "containers" / "renderer" / "entrypoint.sh"
DOCKERFILE = REPO / "containers" / "renderer" / "Dockerfile"


def _closure(lines: list[str]) -> dict[str, importlib.metadata.Distribution]:
    """Every installed distribution the requirements need (extras and markers evaluated), by normalized name;
    fails if one is missing or its version does not satisfy the requirement."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [(Requirement(line), "") for line in lines]
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        distribution = importlib.metadata.distribution(name)
        assert requirement.specifier.contains(distribution.version, prereleases=True), (
            requirement,
            distribution.version,
        )
        extras = sorted(requirement.extras)
        key = name
        if key in found and not extras:
            continue
        found[key] = distribution
        for line in distribution.requires or []:
            for wanted in ["", *extras]:
                pending.append((Requirement(line), wanted))
    return found


def _link(distributions: dict[str, importlib.metadata.Distribution], site: Path) -> None:
    for distribution in distributions.values():
        root = Path(str(distribution.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in distribution.files or [] if not str(f).startswith("..")}
        for top in tops:
            source, target = root / top, site / top
            if source.exists() and not target.exists():
                target.symlink_to(source)


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("image")
    prebuilt = os.environ.get("FRAMELANE_IMAGE_VENV")
    if prebuilt:  # `make image-test`: the requirements were installed from the index, as in the Dockerfile
        venv = Path(prebuilt).resolve()
    else:
        venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        (site,) = (venv / "lib").glob("python3*/site-packages")
        dependencies = _closure(requirements("worker"))
        assert "framelane" not in dependencies
        _link(dependencies, site)
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)], check=True
    )
    (wheel,) = wheels.glob("framelane-*.whl")
    subprocess.run(
        [*pip, "--python", str(venv / "bin" / "python"), "install", "--no-deps", str(wheel)], check=True
    )
    assert (venv / "bin" / "framelane").exists()
    return venv


def _environment(stack: Stack, venv: Path, prefix: str) -> dict[str, str]:
    return {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": os.environ["HOME"],
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "FRAMELANE_MODELS_DIR": str(models_dir()),  # the image's /opt/framelane/models, sha256-verified
        "FRAMELANE_REDIS_URL": stack.redis.url,
        "FRAMELANE_STREAM_PREFIX": prefix,
        "FRAMELANE_OUTBOUND_POLICY": "allowlist",
        "FRAMELANE_ALLOWED_NETWORKS": "127.0.0.1/32",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **aws_environment(stack.moto.url),
    }


def _run(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            ["sh", str(ENTRYPOINT), command], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _stop(process: subprocess.Popen[bytes], log: Path) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise AssertionError(f"did not stop on SIGTERM:\n{log.read_text()[-3000:]}") from None


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def test_worker_command_joins_every_stream_and_stops_on_sigterm(
    stack: Stack, image_venv: Path, logs: Path
) -> None:
    prefix = f"flimage{free_port()}:tasks"
    log = logs / "worker.log"
    process = _run("worker", _environment(stack, image_venv, prefix), log)
    deadline = time.monotonic() + 120
    try:
        # streams are per task type and workspace, made by the first enqueue: the worker says what it serves
        while (started := _logged(log, "worker started")) is None:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        # the renders and (offline on AWS) transcriptions
        assert sorted(started["task_types"]) == sorted(t.value for t in TaskType)
    finally:
        status = _stop(process, log)
    assert status == 0, log.read_text()[-3000:]


def _logged(log: Path, message: str) -> dict[str, Any] | None:
    """The first JSON log line with this message, if the process wrote it yet."""
    for line in log.read_text().splitlines():
        if line.startswith("{") and json.loads(line).get("message") == message:
            record: dict[str, Any] = json.loads(line)
            return record
    return None


def test_serve_command_answers_ping_like_sagemaker_expects(
    stack: Stack, image_venv: Path, logs: Path
) -> None:
    port = free_port()
    env = {
        **_environment(stack, image_venv, f"flimage{port}:tasks"),
        "FRAMELANE_SERVE_HOST": "127.0.0.1",
        "FRAMELANE_SERVE_PORT": str(port),
    }
    log = logs / "serve.log"
    process = _run("serve", env, log)
    deadline = time.monotonic() + 120
    try:
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert response.status_code == 200
    finally:
        _stop(process, log)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
