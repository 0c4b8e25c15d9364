"""Soak: drive a real `framelane local` with mixed tasks while injecting faults, then check that nothing was lost.

Everything stays on loopback: the stack (a subprocess, started as an operator starts it), the HTTP server the
sources come from (small generated clips, a source that trickles its bytes, a missing one) and the webhook
receiver. Faults, bounded in count: SIGKILL a worker mid-render, SIGKILL redis-server, SIGKILL the API process
(the stack's supervisor restarts all three), the webhook receiver down then up, stalling sources; with long sources (`long_every`), which the stack renders in segments,
SIGKILL a worker while it renders a segment.

Checked at the end: every task ended in the state its input calls for (nothing left running, no spurious
failure), exactly one output object per completed task and none for the others (the bucket listed through
the moto endpoint), and per task and webhook destination exactly one terminal event id (`webhook-id`), of the
type that matches the task's status. For a completed long source: the output has exactly the source's frames,
in order (no segment lost or rendered twice into it), and no segment part is left in the bucket. No concurrency
slot may still be held or render still queued in any workspace (`GET /v1/workspace`: a slot held by a task that ended would be a leak).

With `workspaces` > 1 the tasks are spread over several workspaces in turn, the first one limited to `quota`
renders at once: quotas and fair scheduling then run under the same faults.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import httpx
import redis

from framelane.local.processes import LOOPBACK, free_port
from framelane.media.samples import make_sample_clip
from framelane.provenance.verify import SIDECAR_SUFFIX

TERMINAL = {"completed", "failed", "cancelled"}
FRAMELANE_LOCAL = [sys.executable, "-m", "framelane.cli", "local"]
KEEPER_SETTLE_SECONDS = 75  # the local stack's keeper runs every 60 s
FAULTS = ("worker_kill", "broker_kill", "api_restart", "webhook_outage", "segment_kill")


class SoakError(RuntimeError):
    """The soak could not run (the stack did not start, the API never answered): no verdict on invariants."""


@dataclass(frozen=True)
class SoakConfig:
    tasks: int = 30
    workers: int = 2
    worker_kills: int = 1
    broker_kills: int = 1
    api_restarts: int = 1
    webhook_outages: int = 1
    stalling_sources: int = 1
    timeout: float = 600.0  # the whole run: start, tasks, faults, webhooks settling
    fault_gap: float = 3.0  # seconds between two faults, so each meets a recovered stack
    outage_seconds: float = 4.0
    stall_seconds: float = 6.0  # how long a stalling source takes to send its bytes
    visibility_timeout: float = (
        15.0  # the stack's FRAMELANE_WORKER_VISIBILITY_TIMEOUT: how soon kills recover
    )
    seed: int = 1
    mix: tuple[str, ...] = ("sr-fast", "background", "sr-learned", "gaze")  # cycled through; see KINDS
    missing_every: int = 10  # every n-th task's source is missing (expected: invalid_source); 0: none
    clip: tuple[float, int, int, int] = (
        0.4,
        96,
        64,
        10,
    )  # seconds, width, height, fps of the generated source
    keep: Path | None = None  # keep the stack's home (logs, state) here instead of a temporary directory
    long_every: int = 0  # every n-th task that should complete takes the long source (segments); 0: none
    long_clip: tuple[float, int, int, int] = (3.0, 96, 64, 10)  # cut into 1 s segments (keyframe every 1 s)
    segment_kills: int = 0  # SIGKILL a worker rendering a segment (needs long_every)
    workspaces: int = 1  # tasks go to the workspaces in turn
    quota: int | None = None  # the first workspace's concurrency limit (None: the default)


@dataclass
class SoakTask:
    id: str
    task_type: str
    expected: tuple[str, str | None]  # (status, error code)
    source: str
    request_webhook: bool
    latest: dict[str, Any] = field(default_factory=dict)


@dataclass
class SoakReport:
    config: SoakConfig
    tasks: list[SoakTask]
    faults: Counter[str]
    restarts: list[str]
    deliveries: int
    duplicate_deliveries: int
    wall_seconds: float
    violations: list[str]
    # (task id, segment) → times a worker rendered it to the end (its `segment rendered` log lines)
    segment_renders: Counter[tuple[str, int]] = field(default_factory=Counter)

    def latencies(self, task_type: str | None = None) -> list[float]:
        """POST → completed, from the task's own created_at/completed_at."""
        return sorted(
            _seconds(task.latest["created_at"], task.latest["completed_at"])
            for task in self.tasks
            if task.latest.get("status") == "completed"
            and task.latest.get("completed_at")
            and task_type in (None, task.task_type)
        )

    def table(self) -> str:
        lines = [
            f"{'type':18} {'tasks':>5} {'completed':>9} {'failed':>6} {'other':>5} {'as expected':>11}"
            f" {'p50 s':>7} {'p95 s':>7}"
        ]
        for task_type in [*sorted({task.task_type for task in self.tasks}), None]:
            chosen = [task for task in self.tasks if task_type in (None, task.task_type)]
            states = Counter(task.latest.get("status", "unknown") for task in chosen)
            expected = sum(_outcome(task) == task.expected for task in chosen)
            p50, p95 = _percentiles(self.latencies(task_type))
            lines.append(
                f"{task_type or 'all':18} {len(chosen):5} {states['completed']:9} {states['failed']:6}"
                f" {len(chosen) - states['completed'] - states['failed']:5} {expected:11} {p50:7} {p95:7}"
            )
        planned = {
            "worker_kill": self.config.worker_kills,
            "broker_kill": self.config.broker_kills,
            "api_restart": self.config.api_restarts,
            "webhook_outage": self.config.webhook_outages,
            "segment_kill": self.config.segment_kills,
            "stalling_source": self.config.stalling_sources,
        }
        lines.append(
            "faults: " + ", ".join(f"{name} {self.faults[name]}/{planned[name]}" for name in planned)
        )
        completed = len(self.latencies())
        lines.append(
            f"workers {self.config.workers}; wall {self.wall_seconds:.1f} s; "
            f"{60 * completed / max(self.wall_seconds, 1e-9):.1f} completed tasks/min; "
            f"webhook deliveries {self.deliveries} ({self.duplicate_deliveries} repeated with the same webhook-id)"
        )
        if self.segment_renders:
            repeated = sum(count - 1 for count in self.segment_renders.values())
            lines.append(
                f"segments rendered {sum(self.segment_renders.values())} "
                f"({len(self.segment_renders)} distinct, {repeated} rendered again)"
            )
        lines.extend(f"stack: {line}" for line in self.restarts)
        lines.append(f"violations: {len(self.violations)}")
        lines.extend(f"  - {violation}" for violation in self.violations)
        return "\n".join(lines)


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _percentiles(values: list[float]) -> tuple[str, str]:
    if not values:
        return "-", "-"
    if len(values) == 1:
        return f"{values[0]:.1f}", f"{values[0]:.1f}"
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return f"{statistics.median(values):.1f}", f"{cuts[18]:.1f}"


def _outcome(task: SoakTask) -> tuple[str, str | None]:
    error = task.latest.get("error") or {}
    return task.latest.get("status", "unknown"), error.get("code")


# --- the loopback servers: sources and the webhook receiver ------------------------------------------------


class _Server:
    """A threading HTTP server on 127.0.0.1 that can go down and come back on the same port."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.handler = handler
        self.port = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def up(self) -> None:
        server = ThreadingHTTPServer((LOOPBACK, self.port), self.handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _source_server(clip: bytes, stall_seconds: float, long_clip: bytes) -> _Server:
    class Sources(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in {"/clip.mp4", "/stall.mp4", "/long.mp4"}:
                self.send_error(404)
                return
            clip_bytes = long_clip if self.path == "/long.mp4" else clip
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(clip_bytes)))
            self.end_headers()
            pieces = 20 if self.path == "/stall.mp4" else 1
            step = -(-len(clip_bytes) // pieces)
            for start in range(0, len(clip_bytes), step):
                if start:
                    time.sleep(stall_seconds / pieces)  # a slow origin: bytes trickle in
                self.wfile.write(clip_bytes[start : start + step])
                self.wfile.flush()

        def log_message(self, *_: Any) -> None:
            pass

    return _Server(Sources)


@dataclass
class _Delivery:
    destination: str
    webhook_id: str
    event_type: str
    task_id: str


def _webhook_receiver(deliveries: list[_Delivery]) -> _Server:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                event = json.loads(body)
                deliveries.append(
                    _Delivery(self.path, self.headers["webhook-id"], event["type"], event["data"]["id"])
                )
            except (ValueError, KeyError, TypeError):
                self.send_error(400)
                return
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    return _Server(Receiver)


# --- the stack under test ---------------------------------------------------------------------------------


class _LocalStack:
    """`framelane local` as a subprocess, with the operator's environment plus the soak's settings."""

    def __init__(self, home: Path, config: SoakConfig) -> None:
        self.home = home
        self.port = free_port()
        self.log_path = home / "framelane-local.out"
        env = {
            **os.environ,
            "FRAMELANE_HOME": str(home),
            "FRAMELANE_OUTBOUND_POLICY": "allowlist",
            "FRAMELANE_ALLOWED_NETWORKS": f"{LOOPBACK}/32",
            "FRAMELANE_WORKER_VISIBILITY_TIMEOUT": str(config.visibility_timeout),
            "FRAMELANE_WEBHOOK_RETRY_SCHEDULE": "1,2,4,8,16,30",
        }
        if config.long_every:  # the long source (and only it) is rendered in 1 s segments
            env |= {
                "FRAMELANE_SEGMENT_THRESHOLD_SECONDS": str(config.long_clip[0] / 2),
                "FRAMELANE_SEGMENT_SECONDS": "1",
                "FRAMELANE_SEGMENT_WARMUP_SECONDS": "0.5",
            }
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*FRAMELANE_LOCAL, "--port", str(self.port), "--workers", str(config.workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def state(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.home / "local.json").read_text()))
        except (OSError, ValueError):
            return {}

    def wait_ready(self, deadline: float) -> dict[str, Any]:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SoakError(
                    f"framelane local exited with {self.process.returncode}: {self.output()[-2000:]}"
                )
            state = self.state()
            if state and _healthy(state["api_url"]):
                return state
            time.sleep(0.3)
        raise SoakError(f"framelane local was not ready in time: {self.output()[-2000:]}")

    def wait_restarted(self, name: str, old_pid: int, deadline: float) -> bool:
        while time.monotonic() < deadline:
            pid = self.state().get("children", {}).get(name)
            if pid and pid != old_pid:
                return True
            time.sleep(0.2)
        return False

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _request(client: httpx.Client, method: str, url: str, deadline: float, **kwargs: Any) -> httpx.Response:
    """Retried while the API is away (restarted) or busy: the idempotency key makes a repeated POST safe."""
    while True:
        try:
            response = client.request(method, url, **kwargs)
            if response.status_code < 500 and response.status_code != 409:
                return response
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SoakError(f"{method} {url}: no answer from the API in time")
        time.sleep(0.3)


# --- the run -----------------------------------------------------------------------------------------------


# What each kind of task submits and how it must end: gaze on the faceless generated clip fails no_face_detected.
KINDS: dict[str, tuple[str, dict[str, Any], tuple[str, str | None]]] = {
    "sr-fast": ("super-resolution", {"scale": 2, "mode": "fast"}, ("completed", None)),
    "background": ("remove-background", {}, ("completed", None)),
    "sr-learned": ("super-resolution", {"scale": 2, "mode": "learned"}, ("completed", None)),
    "gaze": ("gaze-redirect", {"intensity": 0.5}, ("failed", "no_face_detected")),
}


def _plan(config: SoakConfig, sources: str, hooks: str) -> list[tuple[str, dict[str, Any], SoakTask]]:
    """The kinds of `config.mix` in turn; a missing source must fail `invalid_source`."""
    planned = []
    stalls = config.stalling_sources
    completing = 0
    for index in range(config.tasks):
        path, options, expected = KINDS[config.mix[index % len(config.mix)]]
        source = f"{sources}/clip.mp4"
        if expected[0] == "completed":
            completing += 1
        if config.missing_every and index % config.missing_every == config.missing_every - 1:
            source, expected = f"{sources}/missing.mp4", ("failed", "invalid_source")
        elif config.long_every and expected[0] == "completed" and completing % config.long_every == 0:
            source = f"{sources}/long.mp4"
        elif stalls and expected[0] == "completed":
            source, stalls = f"{sources}/stall.mp4", stalls - 1
        body: dict[str, Any] = {"source_url": source, "metadata": {"soak": index}, **options}
        request_webhook = index % 3 == 0  # its webhook_url replaces the workspace endpoint for this task
        if request_webhook:
            body["webhook_url"] = f"{hooks}/request"
        planned.append((path, body, SoakTask("", path.replace("-", "_"), expected, source, request_webhook)))
    return planned


class _Faults:
    def __init__(
        self,
        config: SoakConfig,
        stack: _LocalStack,
        receiver: _Server,
        echo: Callable[[str], None],
        deadline: float,
    ) -> None:
        self.config = config
        self.stack = stack
        self.receiver = receiver
        self.echo = echo
        self.deadline = deadline
        self.done: Counter[str] = Counter()
        self._stop = threading.Event()
        counts = (
            config.worker_kills,
            config.broker_kills,
            config.api_restarts,
            config.webhook_outages,
            config.segment_kills,
        )
        self.plan = [name for name, count in zip(FAULTS, counts, strict=True) for _ in range(count)]
        random.Random(config.seed).shuffle(self.plan)  # noqa: S311 (a reproducible order, not a secret)
        self._thread = threading.Thread(target=self._run, name="soak-faults", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _run(self) -> None:
        for fault in self.plan:
            if self._stop.wait(self.config.fault_gap):
                return
            try:
                if getattr(self, f"_{fault}")():
                    self.done[fault] += 1
            except Exception as exc:  # a fault that could not be injected is reported, not fatal
                self.echo(f"fault {fault} not injected: {exc!r}")

    def _kill(self, name: str) -> bool:
        pid = self.stack.state()["children"][name]
        os.kill(pid, signal.SIGKILL)
        self.echo(f"fault: SIGKILL {name} (pid {pid})")
        return self.stack.wait_restarted(name, pid, min(self.deadline, time.monotonic() + 60))

    def _worker_kill(self) -> bool:
        """SIGKILL a worker that holds a stream entry (mid-render); waits for one up to 60 s."""
        state = self.stack.state()
        broker = redis.Redis.from_url(state["redis_url"], socket_timeout=5)
        until = min(self.deadline, time.monotonic() + 60)
        while time.monotonic() < until and not self._stop.is_set():
            busy = _busy_consumers(broker)
            workers = [name for name in state["children"] if name.startswith("worker-")]
            chosen = [name for name in workers if f"local-{name}" in busy]
            if chosen:
                return self._kill(sorted(chosen)[self.done["worker_kill"] % len(chosen)])
            time.sleep(0.2)
        self.echo("fault worker_kill skipped: no worker was rendering")
        return False

    def _segment_kill(self) -> bool:
        """SIGKILL a worker that holds a segment's stream entry; waits for one up to 60 s."""
        state = self.stack.state()
        broker = redis.Redis.from_url(state["redis_url"], socket_timeout=5, decode_responses=True)
        until = min(self.deadline, time.monotonic() + 60)
        while time.monotonic() < until and not self._stop.is_set():
            busy = _segment_consumers(broker)
            chosen = [n for n in state["children"] if n.startswith("worker-") and f"local-{n}" in busy]
            if chosen:
                return self._kill(sorted(chosen)[0])
            time.sleep(0.1)
        self.echo("fault segment_kill skipped: no worker was rendering a segment")
        return False

    def _broker_kill(self) -> bool:
        return self._kill("redis")

    def _api_restart(self) -> bool:
        return self._kill("api")

    def _webhook_outage(self) -> bool:
        self.receiver.down()
        self.echo(f"fault: webhook receiver down for {self.config.outage_seconds:g} s")
        self._stop.wait(self.config.outage_seconds)
        self.receiver.up()
        return True


def _busy_consumers(broker: redis.Redis) -> set[str]:
    busy: set[str] = set()
    for stream in broker.scan_iter(match="*:tasks:*", _type="stream"):
        try:
            summary: Any = broker.xpending(stream, "renderers")
        except (redis.ResponseError, redis.ConnectionError):
            continue
        for consumer in summary.get("consumers") or []:
            if int(consumer["pending"]) > 0:
                name = consumer["name"]
                busy.add(name.decode() if isinstance(name, bytes) else str(name))
    return busy


def _segment_consumers(broker: redis.Redis) -> set[str]:
    """Consumers holding an entry that renders a segment."""
    holders: set[str] = set()
    for stream in broker.scan_iter(match="*:tasks:*", _type="stream"):
        try:
            pending: Any = broker.xpending_range(stream, "renderers", "-", "+", 100)
            for entry in pending:
                found: Any = broker.xrange(stream, entry["message_id"], entry["message_id"])
                message = json.loads(found[0][1].get("message", "{}")) if found else {}
                if isinstance(message, dict) and message.get("segment") is not None:
                    holders.add(str(entry["consumer"]))
        except (redis.ResponseError, redis.ConnectionError, ValueError):
            continue
    return holders


def _output_keys(moto_url: str, bucket: str, prefix: str = "outputs/") -> list[str]:
    """ListObjectsV2 straight at the moto endpoint (loopback), as an outside observer of the bucket."""
    keys: list[str] = []
    token: str | None = None
    namespace = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    while True:
        params = {"list-type": "2", "prefix": prefix}
        if token:
            params["continuation-token"] = token
        response = httpx.get(f"{moto_url}/{bucket}", params=params, timeout=30)
        response.raise_for_status()
        root = ET.fromstring(response.content)  # noqa: S314 (moto on loopback)
        keys += [element.text or "" for element in root.iter(f"{namespace}Key")]
        token = root.findtext(f"{namespace}NextContinuationToken")
        if root.findtext(f"{namespace}IsTruncated") != "true" or not token:
            return keys


@contextmanager
def _servers(
    clip: bytes, long_clip: bytes, config: SoakConfig, deliveries: list[_Delivery]
) -> Iterator[tuple[_Server, _Server]]:
    sources = _source_server(clip, config.stall_seconds, long_clip)
    receiver = _webhook_receiver(deliveries)
    sources.up()
    receiver.up()
    try:
        yield sources, receiver
    finally:
        sources.down()
        receiver.down()


def run_soak(config: SoakConfig, echo: Callable[[str], None] = print) -> SoakReport:
    """Start the stack, submit every task, inject the faults, wait for the end, check the invariants."""
    deadline = time.monotonic() + config.timeout
    with tempfile.TemporaryDirectory(prefix="framelane-soak-") as workdir:
        home = Path(workdir) if config.keep is None else config.keep
        home.mkdir(parents=True, exist_ok=True)
        seconds, width, height, fps = config.clip
        clip = make_sample_clip(
            home / "clip.mp4", seconds=seconds, width=width, height=height, fps=fps, audio=False
        )
        seconds, width, height, fps = config.long_clip
        long_clip = make_sample_clip(
            home / "long.mp4", seconds=seconds, width=width, height=height, fps=fps, keyframe_interval=fps
        )
        deliveries: list[_Delivery] = []
        with _servers(clip.read_bytes(), long_clip.read_bytes(), config, deliveries) as (sources, receiver):
            stack = _LocalStack(home, config)
            try:
                return _drive(config, stack, sources, receiver, deliveries, deadline, echo)
            finally:
                stack.stop()


def _drive(
    config: SoakConfig,
    stack: _LocalStack,
    sources: _Server,
    receiver: _Server,
    deliveries: list[_Delivery],
    deadline: float,
    echo: Callable[[str], None],
) -> SoakReport:
    state = stack.wait_ready(deadline)
    echo(f"soak: stack ready at {state['api_url']} with {config.workers} workers; {config.tasks} tasks")
    keys_by_workspace = _workspaces(config, state, deadline)
    tasks: list[SoakTask] = []
    faults = _Faults(config, stack, receiver, echo, deadline)
    started = time.monotonic()
    with ExitStack() as clients:
        apis = [
            clients.enter_context(
                httpx.Client(
                    base_url=state["api_url"], headers={"Authorization": f"Bearer {key}"}, timeout=30
                )
            )
            for key in keys_by_workspace
        ]
        for api in apis:
            endpoint = _request(
                api,
                "POST",
                "/v1/webhooks",
                deadline,
                json={"url": f"{receiver.url}/endpoint", "events": ["task.completed", "task.failed"]},
            )
            if endpoint.status_code != 201:
                raise SoakError(f"webhook endpoint not created: {endpoint.status_code} {endpoint.text}")
        faults.start()
        try:
            for number, (path, body, task) in enumerate(_plan(config, sources.url, receiver.url)):
                key = {"Idempotency-Key": f"soak-{config.seed}-{number}"}
                api = apis[number % len(apis)]
                response = _request(api, "POST", f"/v1/tasks/{path}", deadline, json=body, headers=key)
                if response.status_code not in {200, 202}:
                    raise SoakError(f"POST {path}: {response.status_code} {response.text}")
                task.id = response.json()["id"]
                tasks.append(task)
            _wait_terminal(apis, tasks, deadline - 30)
        finally:
            faults.stop()
        wall = time.monotonic() - started
        _wait_webhooks(tasks, deliveries, deadline)
        _refresh(apis, tasks, deadline)
        usage = _settled_usage(apis, deadline)
    faults.done["stalling_source"] = sum(task.source.endswith("/stall.mp4") for task in tasks)
    restarts = [line for line in stack.output().splitlines() if line.startswith(("supervisor:", "!!!"))]
    bucket = state["worker_environment"].get("FRAMELANE_BUCKET", "framelane-media")
    keys = _output_keys(state["moto_url"], bucket)
    problems = _violations(tasks, keys, deliveries)
    renders = _segment_renders(stack.home / "logs")
    if config.long_every:
        problems += _segment_violations(tasks, state["moto_url"], bucket, config.long_clip)
        problems += _repeated_segments(tasks, renders)
    ids = Counter((d.destination, d.task_id, d.webhook_id, d.event_type) for d in deliveries)
    return SoakReport(
        config=config,
        tasks=tasks,
        faults=faults.done,
        restarts=restarts,
        deliveries=len(deliveries),
        duplicate_deliveries=sum(count - 1 for count in ids.values()),
        wall_seconds=wall,
        violations=problems + _slot_leaks(usage),
        segment_renders=renders,
    )


def _workspaces(config: SoakConfig, state: dict[str, Any], deadline: float) -> list[str]:
    """Create the run's workspaces (the first one under `quota`); their API keys."""
    admin_headers = {"Authorization": f"Bearer {state['admin_token']}"}
    keys: list[str] = []
    with httpx.Client(base_url=state["api_url"], timeout=30, headers=admin_headers) as admin:
        for number in range(config.workspaces):
            name = "soak" if number == 0 else f"soak-{number}"
            created = _request(admin, "POST", "/admin/workspaces", deadline, json={"name": name})
            if created.status_code != 201:
                raise SoakError(f"workspace not created: {created.status_code} {created.text}")
            keys.append(created.json()["api_key"])
            if number == 0 and config.quota is not None:
                path = f"/admin/workspaces/{created.json()['workspace_id']}/limits"
                limited = _request(admin, "PATCH", path, deadline, json={"concurrency": config.quota})
                if limited.status_code != 200:
                    raise SoakError(f"quota not set: {limited.status_code} {limited.text}")
    return keys


def _refresh(apis: list[httpx.Client], tasks: list[SoakTask], deadline: float) -> None:
    """Every task's current JobOut, read through each workspace's list endpoint (two requests per 300 tasks)."""
    wanted = {task.id: task for task in tasks}
    for api in apis:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = _request(api, "GET", "/v1/tasks", deadline, params=params).json()
            for latest in page["data"]:
                if latest["id"] in wanted:
                    wanted[latest["id"]].latest = latest
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                break


def _wait_terminal(apis: list[httpx.Client], tasks: list[SoakTask], deadline: float) -> None:
    while time.monotonic() < deadline:
        _refresh(apis, tasks, deadline + 30)
        if all(task.latest.get("status") in TERMINAL for task in tasks):
            return
        time.sleep(1)


def _settled_usage(apis: list[httpx.Client], deadline: float) -> dict[str, dict[str, int]]:
    """Each workspace's usage once it drained, or as it stands after a keeper period and a bit (the keeper drops
    the entries of tasks that ended, e.g. one whose worker died after finishing and before its ACK)."""
    settle_by = min(deadline, time.monotonic() + KEEPER_SETTLE_SECONDS)
    while True:
        usage = {
            shown["id"]: shown["usage"]
            for shown in (_request(api, "GET", "/v1/workspace", deadline).json() for api in apis)
        }
        if not _slot_leaks(usage) or time.monotonic() >= settle_by:
            return usage
        time.sleep(1)


def _slot_leaks(usage: dict[str, dict[str, int]]) -> list[str]:
    """Once every task ended, no workspace may hold a concurrency slot or have a render queued."""
    return [
        f"{workspace} holds {shown['running']} slots and {shown['queued']} queued renders after every task ended"
        for workspace, shown in usage.items()
        if shown["running"] or shown["queued"]
    ]


def _expected_destinations(task: SoakTask) -> set[str]:
    if task.latest.get("status") not in {"completed", "failed"}:
        return set()
    return {"/request"} if task.request_webhook else {"/endpoint"}


def _wait_webhooks(tasks: list[SoakTask], deliveries: list[_Delivery], deadline: float) -> None:
    """Until every terminal task's terminal event reached each destination (retries take up to a minute)."""
    while time.monotonic() < deadline:
        seen = {(d.destination, d.task_id) for d in list(deliveries) if d.event_type != "task.progress"}
        if all((dest, task.id) in seen for task in tasks for dest in _expected_destinations(task)):
            time.sleep(2)  # late duplicates, if any, land in the report
            return
        time.sleep(0.5)


def _is_rendered_output(name: str) -> bool:
    """The rendered file (`output.mp4`, …), not what accompanies it: its Content Credentials report
    (`credentials.json`) and a WebM's sidecar manifest (`output.webm.c2pa`)."""
    return name.startswith("output.") and not name.endswith(SIDECAR_SUFFIX)


def _violations(tasks: list[SoakTask], keys: list[str], deliveries: list[_Delivery]) -> list[str]:
    problems: list[str] = []
    outputs: defaultdict[str, list[str]] = defaultdict(list)
    for key in keys:
        parts = key.split("/")
        if len(parts) >= 4 and _is_rendered_output(parts[-1]):
            outputs[parts[2]].append(key)
    events: defaultdict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for delivery in deliveries:
        if delivery.event_type != "task.progress":
            events[(delivery.task_id, delivery.destination)].add((delivery.webhook_id, delivery.event_type))
    for task in tasks:
        outcome = _outcome(task)
        label = f"{task.id} ({task.task_type}, {task.source.rsplit('/', 1)[-1]})"
        if outcome[0] not in TERMINAL:
            problems.append(f"{label} left {outcome[0]}")
        elif outcome != task.expected:
            problems.append(
                f"{label} ended {outcome[0]}/{outcome[1]}, expected {task.expected[0]}/{task.expected[1]}"
            )
        expected_outputs = 1 if outcome[0] == "completed" else 0
        if len(outputs[task.id]) != expected_outputs:
            problems.append(f"{label} {outcome[0]} with {len(outputs[task.id])} output objects")
        for destination in _expected_destinations(task) | {d for (t, d) in events if t == task.id}:
            received = events.get((task.id, destination), set())
            wanted_type = f"task.{outcome[0]}"
            if len({webhook_id for webhook_id, _ in received}) != 1 or {t for _, t in received} != {
                wanted_type
            }:
                problems.append(
                    f"{label} {outcome[0]}: {destination} got terminal events {sorted(received)}, "
                    f"expected one {wanted_type}"
                )
    return problems


def _segment_renders(log_dir: Path) -> Counter[tuple[str, int]]:
    """How often each segment was rendered to the end, from every worker's log (restarted workers append)."""
    renders: Counter[tuple[str, int]] = Counter()
    for log in sorted(log_dir.glob("local-worker-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if '"segment rendered"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a SIGKILL
            if record.get("message") == "segment rendered":
                renders[(str(record["task_id"]), int(record["segment"]))] += 1
    return renders


def _repeated_segments(tasks: list[SoakTask], renders: Counter[tuple[str, int]]) -> list[str]:
    """A segment rendered to the end more than once: a worker lost after it finished (or a duplicate delivery)
    made another render it again instead of answering from the stored part."""
    labels = {task.id: f"{task.id} ({task.task_type}, long)" for task in tasks}
    return [
        f"{labels.get(task_id, task_id)}: segment {index} rendered {count} times"
        for (task_id, index), count in sorted(renders.items())
        if count > 1
    ]


def _segment_violations(
    tasks: list[SoakTask], moto_url: str, bucket: str, long_clip: tuple[float, int, int, int]
) -> list[str]:
    """Each completed long task's output holds every source frame once, in order; no segment part is left."""
    problems: list[str] = []
    frames = int(long_clip[0] * long_clip[3])
    left = _output_keys(moto_url, bucket, prefix="segments/")
    for task in tasks:
        if not task.source.endswith("/long.mp4") or task.latest.get("status") != "completed":
            continue
        label = f"{task.id} ({task.task_type}, long)"
        if any(f"/{task.id}/" in key for key in left):
            problems.append(f"{label} left segment parts behind")
        url = (task.latest.get("output") or {}).get("url")
        if not url:
            continue  # counted by _violations
        response = httpx.get(url, timeout=60)  # the presigned link the API hands out
        response.raise_for_status()
        with tempfile.NamedTemporaryFile(suffix="." + url.split("?")[0].rsplit(".", 1)[-1]) as local:
            local.write(response.content)
            local.flush()
            with av.open(local.name) as container:
                stamps = [p.pts for p in container.demux(video=0) if p.size]
        if len(stamps) != frames or len(set(stamps)) != frames:
            problems.append(
                f"{label}: {len(stamps)} frames ({len(set(stamps))} distinct), the source has {frames}"
            )
    return problems
