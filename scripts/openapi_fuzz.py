#!/usr/bin/env python3
"""schemathesis against a fresh `framelane local`: every check, all four phases (examples, coverage, fuzzing,
stateful) over the API's own OpenAPI document. What is excluded, and why, is in `schemathesis.toml`.

    python scripts/openapi_fuzz.py --max-examples 200        # `make fuzz`; the test suite runs a small budget

Generated URLs reach the real pipeline (ingest fetches sources, webhooks are delivered), so the run happens in a
network namespace that holds only loopback: the script re-runs itself under `unshare --net` (root) unless it is
already in one, and refuses to run where neither is possible. Exits with schemathesis's status.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from framelane.local.processes import free_port

REPO = Path(__file__).resolve().parent.parent
PHASES = "examples,coverage,fuzzing,stateful"
READY_SECONDS = 120


def only_loopback() -> bool:
    """True inside a namespace whose only interface is `lo` (nothing generated can leave the machine)."""
    return all(name == "lo" for _, name in socket.if_nameindex())


def _in_loopback_namespace(argv: list[str]) -> list[str]:
    return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "openapi-fuzz", *argv]


def _wait_ready(process: subprocess.Popen[bytes], state_file: Path, deadline: float) -> dict[str, str]:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"framelane local exited with {process.returncode}")
        try:
            state = dict(json.loads(state_file.read_text()))
            if httpx.get(f"{state['api_url']}/healthz", timeout=2).status_code == 200:
                return state
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"framelane local was not ready within {READY_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(max_examples: int, seed: int | None, extra: list[str]) -> int:
    home = Path(tempfile.mkdtemp(prefix="framelane-fuzz-"))
    env = {
        **os.environ,
        "FRAMELANE_HOME": str(home),
        "FRAMELANE_OUTBOUND_POLICY": "allowlist",
        "FRAMELANE_ALLOWED_NETWORKS": "127.0.0.1/32",
    }
    log = (home / "framelane-local.out").open("wb")
    stack = subprocess.Popen(
        [sys.executable, "-m", "framelane.cli", "local", "--port", str(free_port()), "--workers", "0"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        state = _wait_ready(stack, home / "local.json", time.monotonic() + READY_SECONDS)
        command = [
            str(Path(sys.executable).with_name("st")),
            "--config-file",
            str(REPO / "schemathesis.toml"),
            "run",
            f"{state['api_url']}/openapi.json",
            "--checks",
            "all",
            "--phases",
            PHASES,
            "--max-examples",
            str(max_examples),
            "--header",
            f"Authorization: Bearer {state['api_key']}",
            *(["--seed", str(seed)] if seed is not None else []),
            *extra,
        ]
        return subprocess.run(command, cwd=REPO, env={**os.environ, "NO_COLOR": "1"}, check=False).returncode
    except RuntimeError as exc:
        print(
            f"{exc}:\n{(home / 'framelane-local.out').read_text(errors='replace')[-3000:]}", file=sys.stderr
        )
        return 2
    finally:
        _stop(stack)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-examples", type=int, default=200, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=None, help="reproduce a run")
    args, extra = parser.parse_known_args()
    if not only_loopback():
        if os.environ.get("FRAMELANE_FUZZ_NAMESPACE") or shutil.which("unshare") is None:
            print("refusing to fuzz outside a loopback-only network namespace (needs `unshare --net`)")
            return 2
        argv = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
        os.environ["FRAMELANE_FUZZ_NAMESPACE"] = "1"
        return subprocess.run(_in_loopback_namespace(argv), check=False).returncode
    return run(args.max_examples, args.seed, extra)


if __name__ == "__main__":
    sys.exit(main())
