"""`framelane local` as a single-machine deployment: SIGKILL of the whole stack, restart on the same data directory,
clean stop, export and import; damaged and foreign data directories are refused and left as they were."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from click.testing import CliRunner

from framelane.cli import cli as cli_group
from framelane.local.processes import free_port
from framelane.media.samples import make_sample_clip
from tests.integration.test_local_stack_cli import FRAMELANE, LocalStack, _wait_status, cli, running_local
from tests.support.servers import Recorded, loopback_server

TERMINAL = {"completed", "failed", "cancelled"}


def _kill_whole_stack(stack: LocalStack) -> None:
    """SIGKILL for every process of the stack at once: nothing gets to flush or say goodbye."""
    children = stack.state["children"]
    os.kill(stack.process.pid, signal.SIGSTOP)  # its supervisor must not restart what dies next
    for pid in children.values():
        os.kill(pid, signal.SIGKILL)
    stack.process.kill()
    stack.process.wait()


def _output_keys(stack: LocalStack, workspace_id: str, task_id: str) -> list[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.urls["moto"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    listed = s3.list_objects_v2(Bucket="framelane-media", Prefix=f"outputs/{workspace_id}/{task_id}/")
    return sorted(entry["Key"].rsplit("/", 1)[-1] for entry in listed.get("Contents", []))


def _completed_events(receiver_requests: list[Any]) -> list[str]:
    bodies = [json.loads(request.body) for request in receiver_requests]
    return sorted(body["data"]["id"] for body in bodies if body["type"] == "task.completed")


def test_sigkill_restart_keeps_state_and_finishes_work_in_flight_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    clip = make_sample_clip(tmp_path / "clip.mp4", seconds=0.2, width=64, height=48, audio=False)
    body: dict[str, Any] = {"scale": 2, "mode": "fast"}
    flaky_down = [True]  # this receiver fails until the restart: its delivery waits for a retry when killed
    flaky_answered: list[str] = []

    def flaky(request: Recorded) -> tuple[int, dict[str, str], bytes]:
        if flaky_down[0]:
            return 500, {}, b"down"
        flaky_answered.append(json.loads(request.body)["data"]["id"])
        return 200, {}, b"ok"

    with loopback_server() as receiver:
        hook = receiver.respond("/hook", lambda _: (200, {}, b"ok"))
        flaky_hook = receiver.respond("/flaky", flaky)
        with running_local(home, "--workers", "1") as first:
            dev_key = first.wait_for_line("API key:").split("API key:")[1].strip()
            created = json.loads(cli(first.env, "workspace", "create", "acme", "--json").stdout)
            api = httpx.Client(
                base_url=first.urls["api"],
                headers={"Authorization": f"Bearer {created['api_key']}"},
                timeout=30,
            )
            for url in (hook, flaky_hook):
                assert api.post("/v1/webhooks", json={"url": url}).status_code == 201
            upload = api.post("/v1/uploads", json={"content_type": "video/mp4"}).json()
            put = httpx.put(
                upload["upload_url"], content=clip.read_bytes(), headers=upload["headers"], timeout=30
            )
            assert put.status_code == 200
            body["source_url"] = upload["source_url"]

            done = api.post("/v1/tasks/super-resolution", json=body).json()
            done = _wait_status(api, done["id"], TERMINAL, timeout=120)
            assert done["status"] == "completed", done
            output = httpx.get(done["output"]["url"], timeout=30).content
            _wait_until(lambda: len(receiver.received("/flaky")) >= 1)  # attempt 1 failed, a retry is due

            os.kill(first.state["children"]["worker-1"], signal.SIGSTOP)  # renders now wait in the queue
            waiting = api.post("/v1/tasks/super-resolution", json=body).json()
            _wait_status(api, waiting["id"], {"queued"})
            acknowledged = api.post("/v1/tasks/super-resolution", json=body)
            assert acknowledged.status_code == 202
            _kill_whole_stack(first)  # at once after the 202: that write must not be lost

        flaky_down[0] = False
        with running_local(home, "--workers", "1") as second:
            assert second.wait_for_line("API key:").split("API key:")[1].strip() == dev_key
            second.wait_for_line("2 unfinished task(s) resumed")
            api = httpx.Client(
                base_url=second.urls["api"],
                headers={"Authorization": f"Bearer {created['api_key']}"},
                timeout=30,
            )
            again = api.get(f"/v1/tasks/{done['id']}").json()
            assert again["status"] == "completed"
            assert hashlib.sha256(httpx.get(again["output"]["url"], timeout=30).content).digest() == (
                hashlib.sha256(output).digest()
            )
            for task_id in (waiting["id"], acknowledged.json()["id"]):
                task = _wait_status(api, task_id, TERMINAL, timeout=120)
                assert task["status"] == "completed", task
                assert _output_keys(second, created["workspace_id"], task_id) == _output_keys(
                    second, created["workspace_id"], done["id"]
                )
            deadline_ids = {done["id"], waiting["id"], acknowledged.json()["id"]}
            _wait_until(lambda: set(_completed_events(receiver.received("/hook"))) == deadline_ids)
            _wait_until(lambda: set(flaky_answered) == deadline_ids)
            second.process.send_signal(signal.SIGTERM)  # a clean stop this time
            assert second.process.wait(timeout=60) == 0
        assert _completed_events(receiver.received("/hook")) == sorted(deadline_ids)  # each delivered once
        assert sorted(flaky_answered) == sorted(deadline_ids)  # the interrupted delivery went on, once

    exported = cli(
        {**os.environ, "FRAMELANE_HOME": str(home)}, "local", "export", str(tmp_path / "backup.tgz")
    )
    assert exported.returncode == 0, exported.stderr
    restored = tmp_path / "restored"
    imported = cli(
        os.environ.copy(), "local", "import", str(tmp_path / "backup.tgz"), "--data-dir", str(restored)
    )
    assert imported.returncode == 0, imported.stderr
    assert _snapshot(restored) == _snapshot(home / "data")  # a restart on it is the restart above
    refused = cli(
        os.environ.copy(), "local", "import", str(tmp_path / "backup.tgz"), "--data-dir", str(restored)
    )
    assert refused.returncode != 0 and "is not empty" in refused.stderr


def _wait_until(condition: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def _local_fails(tmp_path: Path, data_dir: Path) -> str:
    result = subprocess.run(
        [*FRAMELANE, "local", "--port", str(free_port()), "--data-dir", str(data_dir)],
        env={**os.environ, "FRAMELANE_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0, result.stdout
    return result.stderr


def _local_refuses(tmp_path: Path, data_dir: Path) -> str:
    """`framelane local` in-process: the directory is checked before any server starts."""
    result = CliRunner().invoke(cli_group, ["local", "--port", str(free_port()), "--data-dir", str(data_dir)])
    assert result.exit_code == 1, result.output
    return result.output


def _snapshot(path: Path) -> dict[str, bytes]:
    """Every file's bytes; the lock file a start or export takes is not data."""
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != "lock"
    }


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"notes.txt": b"my thesis"}, "is not a Framelane data directory"),
        ({"FORMAT": b"{not json"}, "is damaged"),
        ({"FORMAT": b'{"format": "something-else", "version": 1}'}, "holds another program's data"),
        ({"FORMAT": b'{"format": "framelane-local", "version": 99}'}, "written by a newer Framelane"),
    ],
)
def test_foreign_damaged_or_newer_data_directories_are_refused_untouched(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for name, content in files.items():
        (data_dir / name).write_bytes(content)
    before = _snapshot(data_dir)
    assert message in _local_refuses(tmp_path, data_dir)
    assert _snapshot(data_dir) == before


def test_a_damaged_journal_is_reported_and_left_as_it_was(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "aws").mkdir(parents=True)
    (data_dir / "FORMAT").write_text('{"format": "framelane-local", "version": 1}')
    (data_dir / "aws" / "journal.jsonl").write_bytes(b'{"t": "ddb"}\n')
    before = _snapshot(data_dir)
    assert "the data directory cannot be opened: journal record 1 (ddb) is incomplete" in _local_fails(
        tmp_path, data_dir
    )
    assert _snapshot(data_dir) == before
