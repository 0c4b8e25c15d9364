"""framelane.client against a real loopback HTTP server: refused downloads raise the API's error and leave
no file; uploads stream the file with an explicit Content-Length."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framelane.client import ApiError, FramelaneClient
from framelane.models import UploadOut
from tests.support.servers import loopback_server


def test_a_refused_download_raises_and_leaves_no_file(tmp_path: Path) -> None:
    error = json.dumps({"error": {"code": "forbidden", "message": "link expired"}}).encode()
    target = tmp_path / "out.webm"
    with loopback_server() as server, FramelaneClient(server.url) as client:
        url = server.respond("/out.webm", lambda _: (403, {"Content-Type": "application/json"}, error))
        with pytest.raises(ApiError) as raised:
            client.download(url, str(target))
    assert (raised.value.status, raised.value.code) == (403, "forbidden")
    assert not target.exists()


def test_a_download_writes_the_body(tmp_path: Path) -> None:
    target = tmp_path / "out.webm"
    with loopback_server() as server, FramelaneClient(server.url) as client:
        url = server.serve_bytes("/out.webm", b"video" * 1000, "video/webm")
        assert client.download(url, str(target)) == 5000
    assert target.read_bytes() == b"video" * 1000


def test_an_upload_streams_the_file_with_its_length(tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(bytes(range(256)) * 400)
    with loopback_server() as server, FramelaneClient(server.url) as client:
        url = server.respond("/put", lambda _: (200, {}, b""))
        upload = UploadOut.model_validate(
            {
                "upload_url": url,
                "source_url": "s3://bucket/uploads/ws_1/up_1/clip.mp4",
                "headers": {"Content-Type": "video/mp4"},
                "expires_at": "2030-01-01T00:00:00Z",
            }
        )
        client.upload_file(upload, str(source))
        (put,) = server.received("/put")
    assert put.method == "PUT" and put.body == source.read_bytes()
    assert put.headers["content-length"] == str(source.stat().st_size)
    assert "transfer-encoding" not in put.headers and put.headers["content-type"] == "video/mp4"


def test_cli_choices_are_the_enums_and_reach_the_api(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from framelane.cli import cli
    from framelane.models import TaskStatus, TaskType

    page = json.dumps({"data": [], "has_more": False}).encode()
    runner = CliRunner(env={"FRAMELANE_HOME": str(tmp_path)})
    with loopback_server() as server:
        server.respond("/v1/tasks?type=gaze_redirect&status=queued&limit=20", lambda _: (200, {}, page))
        base = ["--api-url", server.url, "--api-key", "fl_test", "tasks"]
        listed = runner.invoke(cli, [*base, "list", "--type", "gaze_redirect", "--status", "queued"])
        assert listed.exit_code == 0, listed.output
        assert [r.path for r in server.requests] == ["/v1/tasks?type=gaze_redirect&status=queued&limit=20"]
        refused = runner.invoke(cli, [*base, "list", "--status", "paused"])
        assert refused.exit_code == 2 and not server.requests[1:]
    create_help = "".join(runner.invoke(cli, ["tasks", "create", "--help"]).output.split())  # unwrapped
    list_help = "".join(runner.invoke(cli, ["tasks", "list", "--help"]).output.split())
    for task_type in TaskType:
        assert task_type.replace("_", "-") in create_help and task_type.value in list_help
    assert all(status.value in list_help for status in TaskStatus)
