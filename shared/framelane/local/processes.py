"""Child processes of the local stack (redis-server, moto_server, the API, renderer workers) on loopback.

Used by `framelane local` and by the integration-test fixtures, so both run the same real servers.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"


class ServiceStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the parent dies, even by SIGKILL, so nothing is left behind.

    Its own process group keeps a terminal's Ctrl-C away from it: the parent stops its children in order
    (and its supervisor does not mistake a child stopped by that Ctrl-C for a crash)."""
    os.setpgid(0, 0)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class ChildService:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _spawn(
    name: str, argv: list[str], env: dict[str, str] | None, log_dir: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")  # a restarted child appends: the log keeps why the previous one ended
    process = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        preexec_fn=_die_with_parent,
        close_fds=True,
    )
    log.close()
    return process, log_path


def _wait(
    name: str, process: subprocess.Popen[bytes], log_path: Path, ready: Callable[[], bool], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceStartError(
                f"{name} exited with {process.returncode}: {log_path.read_text()[-2000:]}"
            )
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.1)
    process.kill()
    raise ServiceStartError(f"{name} did not become ready in {timeout:.0f}s; log: {log_path}")


def start_redis(
    log_dir: Path, timeout: float = 20, port: int | None = None, data_dir: Path | None = None
) -> ChildService:
    """On `port` (a restart keeps the URL every client holds), else on a free one. With `data_dir`, the streams
    persist in an append-only file there: Redis writes it before replying and fsyncs it every second, so a
    killed redis-server loses nothing it acknowledged (a power cut at most the last second)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceStartError(
            "redis-server not found: install it (`apt-get install -y redis-server`, or `make setup`)"
        )
    port = port or free_port()
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        LOOPBACK,
        "--save",
        "",
        *(["--appendonly", "yes", "--appendfsync", "everysec"] if data_dir else ["--appendonly", "no"]),
        "--dir",
        str(data_dir or log_dir),
        "--protected-mode",
        "yes",
    ]
    process, log_path = _spawn("redis", argv, None, log_dir)

    def ready() -> bool:
        with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    _wait("redis-server", process, log_path, ready, timeout)
    return ChildService("redis", f"redis://{LOOPBACK}:{port}/0", process, log_path)


def start_moto(log_dir: Path, timeout: float = 60, journal_dir: Path | None = None) -> ChildService:
    """moto in server mode, with Step Functions executing state machines for real (DESIGN §4); with
    `journal_dir`, DynamoDB and S3 are replayed from and journaled to it (local/journal.py)."""
    port = free_port()
    env = {**os.environ, "MOTO_PORT": str(port)}
    argv = [sys.executable, "-m", "framelane.local.moto_server", "-H", LOOPBACK, "-p", str(port)]
    if journal_dir is not None:
        journal_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--journal-dir", str(journal_dir)]
    process, log_path = _spawn("moto", argv, env, log_dir)
    url = f"http://{LOOPBACK}:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)

    _wait("moto_server", process, log_path, ready, timeout)
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{url}/moto-api/config",
        data=b'{"stepfunctions": {"execute_state_machine": true}}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (loopback)
        pass
    return ChildService("moto", url, process, log_path)


def start_api(log_dir: Path, port: int, timeout: float = 60, workers: int = 1) -> ChildService:
    """The API under uvicorn in its own process (`workers` > 1: that many processes on the port), configured by
    the FRAMELANE_* environment it inherits."""
    argv = [
        sys.executable,
        "-m",
        "framelane.local.api_server",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    process, log_path = _spawn("api", argv, None, log_dir)
    url = f"http://{LOOPBACK}:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)

    _wait("the API", process, log_path, ready, timeout)
    return ChildService("api", url, process, log_path)


def start_worker(log_dir: Path, name: str) -> ChildService:
    """`framelane worker` as consumer `name`; it loads its engines and joins the streams on its own."""
    argv = [sys.executable, "-m", "framelane.cli", "worker", "--consumer", name]
    process, log_path = _spawn(name, argv, None, log_dir)
    return ChildService(name, name, process, log_path)


@contextlib.contextmanager
def running_services(log_dir: Path | None = None) -> Iterator[tuple[ChildService, ChildService]]:
    """redis-server and moto_server for the duration of the block; both stopped on exit."""
    directory = log_dir or Path(tempfile.mkdtemp(prefix="framelane-"))
    directory.mkdir(parents=True, exist_ok=True)
    started: list[ChildService] = []
    try:
        started.append(start_redis(directory))
        started.append(start_moto(directory))
        yield started[0], started[1]
    finally:
        for service in reversed(started):
            service.stop()


def aws_environment(moto_url: str) -> dict[str, str]:
    """Environment that points boto3 at moto with throwaway credentials (never real ones)."""
    return {
        "FRAMELANE_AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
