"""`framelane local`: redis-server, moto_server, the API and N renderer workers as supervised child processes on
loopback, the SQS pollers in this process, in the foreground; its state in a data directory (local/datadir.py)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from framelane.config import Settings
from framelane.errors import Unauthorized
from framelane.local import datadir
from framelane.local.bootstrap import bootstrap_stores
from framelane.local.in_process import start_in_process_pipeline, with_local_pipeline
from framelane.local.processes import (
    LOOPBACK,
    ServiceStartError,
    aws_environment,
    free_port,
    start_api,
    start_moto,
    start_redis,
    start_worker,
)
from framelane.local.resume import resume_in_flight
from framelane.local.supervisor import Supervisor
from framelane.services.context import ServiceContext, build_context
from framelane.services.workspaces import authenticate, create_workspace

STATE_FILE = datadir.framelane_home() / "local.json"
# Settings a joining worker does not need: kept out of the state file's worker environment.
_NOT_FOR_WORKERS = {"FRAMELANE_ADMIN_TOKEN", "FRAMELANE_CURSOR_SECRET", "FRAMELANE_ASSEMBLYAI_API_KEY"}


def default_workers() -> int:
    """One worker process per two cores: a render already keeps about two cores busy (decode, engine and encode
    run on their own threads, and the model runtimes use more than one), so more workers only add memory and
    contention."""
    return max(1, (os.cpu_count() or 2) // 2)


def outbound_environment(environ: dict[str, str], own_endpoints: list[str]) -> dict[str, str]:
    """The operator's FRAMELANE_OUTBOUND_POLICY / FRAMELANE_ALLOWED_NETWORKS stand; with neither set, tasks may
    fetch from loopback (the demo's local sources). The stack's own ports are denied whatever they say."""
    env: dict[str, str] = {}
    if "FRAMELANE_OUTBOUND_POLICY" not in environ and "FRAMELANE_ALLOWED_NETWORKS" not in environ:
        env["FRAMELANE_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    operator = [entry.strip() for entry in environ.get("FRAMELANE_DENIED_ENDPOINTS", "").split(",")]
    env["FRAMELANE_DENIED_ENDPOINTS"] = ",".join([*filter(None, operator), *own_endpoints])
    return env


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((LOOPBACK, port)) != 0


@contextlib.contextmanager
def _data_directory(data_dir: Path | None, ephemeral: bool) -> Iterator[datadir.DataDir]:
    if ephemeral:
        with datadir.ephemeral() as data:
            yield data
        return
    data = datadir.prepare(data_dir or datadir.default_data_dir())
    with datadir.locked(data):
        yield data


def run_local(
    port: int,
    workers: int | None = None,
    on_ready: Callable[[str, str], int] | None = None,
    echo: Callable[[str], None] = print,
    data_dir: Path | None = None,
    ephemeral: bool = False,
) -> int:
    """Serve until SIGINT/SIGTERM (or until `on_ready(api_url, dev_key)` returns); every child is stopped.
    State lives in `data_dir` (default under FRAMELANE_HOME), or in a throwaway directory when `ephemeral`."""
    if not _port_is_free(port):
        raise ServiceStartError(f"port {port} on {LOOPBACK} is in use; pick another with --port")
    with _data_directory(data_dir, ephemeral) as data:
        return _run(data, port, default_workers() if workers is None else workers, on_ready, echo, ephemeral)


def _run(
    data: datadir.DataDir,
    port: int,
    workers: int,
    on_ready: Callable[[str, str], int] | None,
    echo: Callable[[str], None],
    ephemeral: bool,
) -> int:
    log_dir = STATE_FILE.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    state: dict[str, Any] = {}
    supervisor = Supervisor(echo, on_change=lambda: _write_state(state, supervisor.pids()))
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    in_process = None
    outcome = {"status": 0}
    try:
        # moto first: replaying its journal is what finds a damaged directory, before anything else writes there
        moto_service = supervisor.add(
            "moto", partial(start_moto, log_dir, journal_dir=data.aws), restart=False
        )
        redis_port = free_port()
        redis_service = supervisor.add(
            "redis", partial(start_redis, log_dir, port=redis_port, data_dir=data.redis)
        )
        api_url = f"http://{LOOPBACK}:{port}"
        own = [f"{LOOPBACK}:{redis_port}", moto_service.url.removeprefix("http://"), f"{LOOPBACK}:{port}"]
        own_secrets = data.secrets()
        os.environ.update(
            {
                **aws_environment(moto_service.url),
                "FRAMELANE_REDIS_URL": redis_service.url,
                "FRAMELANE_ADMIN_TOKEN": own_secrets["admin_token"],
                "FRAMELANE_CURSOR_SECRET": own_secrets["cursor_secret"],
                **outbound_environment(dict(os.environ), own),
            }
        )
        settings = Settings()
        bootstrap_stores(build_context(settings))
        settings = with_local_pipeline(settings)
        os.environ.update(
            {
                "FRAMELANE_QUEUE_URL_PREFIX": str(settings.queue_url_prefix),
                "FRAMELANE_TASK_STATE_MACHINE_ARN": str(settings.task_state_machine_arn),
                "FRAMELANE_WEBHOOK_STATE_MACHINE_ARN": str(settings.webhook_state_machine_arn),
            }
        )
        ctx = build_context(settings)
        resumed = resume_in_flight(ctx)
        in_process = start_in_process_pipeline(ctx, engines=None)
        dev_workspace, dev_key = _dev_workspace(ctx, data)
        supervisor.add("api", partial(start_api, log_dir, port))
        for number in range(1, workers + 1):
            supervisor.add(f"worker-{number}", partial(start_worker, log_dir, f"local-worker-{number}"))
        state.update(
            api_url=api_url,
            api_key=dev_key,
            admin_token=settings.admin_token,
            redis_url=redis_service.url,
            moto_url=moto_service.url,
            log_dir=str(log_dir),
            pid=os.getpid(),
            worker_environment={
                name: value
                for name, value in os.environ.items()
                if (name.startswith("FRAMELANE_") or name in aws_environment(""))
                and name not in _NOT_FOR_WORKERS
            },
        )
        _write_state(state, supervisor.pids())
        supervisor.start()
        echo(f"Framelane ready at {api_url}  (redis {redis_service.url}, moto {moto_service.url})")
        echo(f"{workers} worker process(es), supervised; logs in {log_dir}")
        echo(
            "data: throwaway (--ephemeral), removed on exit"
            if ephemeral
            else f"data in {data.path} ({resumed.resumed} unfinished task(s) resumed)"
        )
        echo(f"dev workspace {dev_workspace}  API key: {dev_key}")
        echo(f"Console: {api_url}/console  (sign in with the key above)")
        if on_ready is None:
            echo("Ctrl-C stops everything.")
        else:
            threading.Thread(
                target=_run_ready, args=(on_ready, api_url, dev_key, outcome, stop, echo), daemon=True
            ).start()
        while not stop.wait(0.5):
            pass
    finally:
        if in_process is not None:
            in_process.stop()
        supervisor.stop()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        STATE_FILE.unlink(missing_ok=True)
        echo("Framelane stopped.")
    return outcome["status"]


def _dev_workspace(ctx: ServiceContext, data: datadir.DataDir) -> tuple[str, str]:
    """The dev workspace of the first start, as long as its key still works; otherwise a new one."""
    kept = data.secrets()
    if "dev_api_key" in kept:
        try:
            return authenticate(ctx, kept["dev_api_key"]).id, kept["dev_api_key"]
        except Unauthorized:
            pass  # rotated or revoked since: make a new dev workspace
    dev = create_workspace(ctx, "dev")
    data.save_secrets({**kept, "dev_workspace_id": dev.workspace_id, "dev_api_key": dev.api_key})
    return dev.workspace_id, dev.api_key


def _run_ready(
    on_ready: Callable[[str, str], int],
    api_url: str,
    api_key: str,
    outcome: dict[str, int],
    stop: threading.Event,
    echo: Callable[[str], None],
) -> None:
    try:
        outcome["status"] = on_ready(api_url, api_key)
    except Exception as exc:  # the demo failed: report it and stop the stack with an error status
        echo(f"demo failed: {exc}")
        outcome["status"] = 1
    stop.set()


def _write_state(state: dict[str, Any], pids: dict[str, int]) -> None:
    """Atomically, readable by the owner only: it holds the operator token."""
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    partial_file = STATE_FILE.with_suffix(".tmp")
    descriptor = os.open(partial_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump({**state, "children": pids}, out)
    os.replace(partial_file, STATE_FILE)


def read_state() -> dict[str, Any]:
    """The running local stack's URLs, keys, child pids and worker environment; empty when none runs."""
    try:
        data: dict[str, Any] = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return data
