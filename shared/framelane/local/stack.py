"""`framelane local`: redis-server + moto_server + the API under uvicorn, in the foreground, on loopback."""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from framelane.api.app import create_app
from framelane.config import Settings
from framelane.engines.base import load_registry
from framelane.local.bootstrap import bootstrap_stores
from framelane.local.processes import LOOPBACK, ServiceStartError, aws_environment, running_services
from framelane.local.runtime import start_pipeline_runtime, with_local_pipeline
from framelane.services.context import build_context
from framelane.services.workspaces import create_workspace

STATE_FILE = Path(os.environ.get("FRAMELANE_HOME", Path.home() / ".framelane")) / "local.json"


class _ForegroundServer(uvicorn.Server):
    """uvicorn that stops on SIGINT/SIGTERM but returns instead of re-raising the signal afterwards,
    so `run_local` still stops its child services and exits cleanly."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((LOOPBACK, port)) != 0


def run_local(
    port: int, on_ready: Callable[[str, str], int] | None = None, echo: Callable[[str], None] = print
) -> int:
    """Serve until SIGINT/SIGTERM (or until `on_ready(api_url, dev_key)` returns); every child is stopped."""
    if not _port_is_free(port):
        raise ServiceStartError(f"port {port} on {LOOPBACK} is in use; pick another with --port")
    log_dir = STATE_FILE.parent / "logs"
    with running_services(log_dir) as (redis_service, moto_service):
        os.environ.update(
            {
                **aws_environment(moto_service.url),
                "FRAMELANE_REDIS_URL": redis_service.url,
                "FRAMELANE_ADMIN_TOKEN": secrets.token_urlsafe(24),
                "FRAMELANE_CURSOR_SECRET": secrets.token_urlsafe(32),
                "FRAMELANE_ALLOWED_NETWORKS": "127.0.0.0/8",
            }
        )
        settings = Settings()
        bootstrap_stores(build_context(settings))
        settings = with_local_pipeline(settings)
        ctx = build_context(settings)
        runtime = start_pipeline_runtime(ctx, load_registry())
        dev = create_workspace(ctx, "dev")
        api_url = f"http://{LOOPBACK}:{port}"
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(
            json.dumps({"api_url": api_url, "api_key": dev.api_key, "admin_token": settings.admin_token})
        )
        STATE_FILE.chmod(0o600)
        server = _ForegroundServer(
            uvicorn.Config(create_app(settings, ctx), host=LOOPBACK, port=port, log_level="warning")
        )
        outcome = {"status": 0}

        def announce_when_ready() -> None:
            while not server.started and not server.should_exit:
                threading.Event().wait(0.05)
            if server.should_exit:
                return
            echo(f"Framelane ready at {api_url}  (redis {redis_service.url}, moto {moto_service.url})")
            echo(f"dev workspace {dev.workspace_id}  API key: {dev.api_key}")
            echo(f"Console: {api_url}/console  (sign in with the key above)")
            if on_ready is None:
                echo("Ctrl-C stops everything.")
                return
            try:
                outcome["status"] = on_ready(api_url, dev.api_key)
            except Exception as exc:  # the demo failed: report it and stop the stack with an error status
                echo(f"demo failed: {exc}")
                outcome["status"] = 1
            server.should_exit = True

        threading.Thread(target=announce_when_ready, daemon=True).start()
        try:
            server.run()
        finally:
            runtime.stop()
            STATE_FILE.unlink(missing_ok=True)
            echo("Framelane stopped.")
    return outcome["status"]


def read_state() -> dict[str, str]:
    """The running local stack's URL and keys, for CLI defaults; empty when none runs."""
    try:
        data: dict[str, str] = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return data
