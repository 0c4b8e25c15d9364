"""The console's server side: pages and their security headers, option forms from the request models, the
routes it needs (task source links, webhook delivery attempts), and `framelane local` ready for a browser."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from framelane.ids import new_task_id
from framelane.local.processes import free_port
from framelane.models import (
    REQUEST_MODEL_BY_TYPE,
    Task,
    TaskRequestBase,
    TaskStatus,
    TaskType,
    WebhookAttempt,
    WorkspaceCreated,
    utc_now,
)

from .conftest import Stack


class _Inputs(HTMLParser):
    """Every input/select of the page by id, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.names: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in {"input", "select", "textarea"}:
            self.names.append(found.get("name") or "")
            if found.get("id"):
                self.by_id[str(found["id"])] = found


def test_pages_carry_a_strict_csp(api_url: str) -> None:
    index = httpx.get(f"{api_url}/")
    assert index.status_code == 200 and 'href="/console"' in index.text
    page = httpx.get(f"{api_url}/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["default-src"] == "'none'" and "unsafe" not in policy
    assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline for the CSP to allow
    script = httpx.get(f"{api_url}/console/static/console.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "content-security-policy" in script.headers
    assert "content-security-policy" not in httpx.get(f"{api_url}/healthz").headers


def test_option_forms_are_the_request_models(api_url: str) -> None:
    parser = _Inputs()
    parser.feed(httpx.get(f"{api_url}/console").text)
    for task_type, model in REQUEST_MODEL_BY_TYPE.items():
        schema = model.model_json_schema()
        for name in set(model.model_fields) - set(TaskRequestBase.model_fields):
            prop = schema["properties"][name]
            element = parser.by_id.get(f"opt-{task_type.value}-{name}")
            if prop.get("type") == "array":  # checkboxes, one per allowed value
                assert parser.names.count(name) == len(schema["$defs"]["TranscriptAnalysis"]["enum"])
                continue
            assert element is not None, (task_type, name)
            pattern = next((b["pattern"] for b in [prop, *prop.get("anyOf", [])] if "pattern" in b), None)
            assert element.get("pattern") == pattern, (task_type, name)
            if prop.get("type") == "number":
                assert element["min"] == str(prop["minimum"]) and element["max"] == str(prop["maximum"])
                assert element["value"] == str(prop["default"])


def test_webhook_attempts_are_listed_per_endpoint(
    api: httpx.Client, other_api: httpx.Client, stack: Stack, workspace: WorkspaceCreated
) -> None:
    endpoint = api.post("/v1/webhooks", json={"url": "https://hooks.example.com/a"}).json()
    other = api.post("/v1/webhooks", json={"url": "https://hooks.example.com/b"}).json()
    start = utc_now().replace(microsecond=0)

    def record(
        event: str, attempt: int, status: int | None, endpoint_id: str, error: str | None = None
    ) -> None:
        stack.ctx.store.record_webhook_attempt(
            WebhookAttempt(
                workspace_id=workspace.workspace_id,
                event_id=event,
                endpoint_id=endpoint_id,
                url="https://hooks.example.com/a",
                attempt=attempt,
                status_code=status,
                error=error,
                delivered=status is not None and status < 300,
                attempted_at=start + timedelta(seconds=attempt),
            )
        )

    record("evt_01", 1, 500, endpoint["id"])
    record("evt_01", 2, 200, endpoint["id"])
    record("evt_02", 1, None, endpoint["id"], error="connection refused")
    record("evt_03", 1, 410, endpoint["id"])
    record("evt_02", 1, 500, other["id"])
    schedule = stack.settings.webhook_retry_schedule

    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = api.get(f"/v1/webhooks/{endpoint['id']}/attempts", params={"limit": 2, "cursor": cursor})
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["next_cursor"]
        if not pages[-1]["has_more"]:
            break
    seen = [
        (a["event_id"], a["attempt"], a["status_code"], a["next_retry_at"]) for p in pages for a in p["data"]
    ]
    retry = (start + timedelta(seconds=1 + schedule[0])).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert seen == [
        ("evt_03", 1, 410, None),  # 410 Gone: never retried
        ("evt_02", 1, None, (start + timedelta(seconds=1 + schedule[0])).strftime("%Y-%m-%dT%H:%M:%S.000Z")),
        ("evt_01", 2, 200, None),
        ("evt_01", 1, 500, retry),
    ]
    assert [len(p["data"]) for p in pages] == [2, 2]
    assert pages[1]["data"][1]["error"] is None and pages[0]["data"][1]["error"] == "connection refused"

    assert other_api.get(f"/v1/webhooks/{endpoint['id']}/attempts").status_code == 404
    assert api.get("/v1/webhooks/wh_missing/attempts").json()["error"]["code"] == "not_found"
    foreign = api.get(f"/v1/webhooks/{other['id']}/attempts", params={"cursor": pages[0]["next_cursor"]})
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "invalid_cursor"


def test_source_link_of_a_task(api: httpx.Client, other_api: httpx.Client, stack: Stack) -> None:
    created = api.post("/v1/tasks/gaze-redirect", json={"source_url": "https://cdn.example.com/a.mp4"}).json()
    not_ready = api.get(f"/v1/tasks/{created['id']}/source")
    assert not_ready.status_code == 409 and not_ready.json()["error"]["code"] == "source_not_ready"

    workspace_id = created["workspace_id"]
    task_id = new_task_id()
    stack.ctx.blobs.put_bytes(f"sources/{workspace_id}/{task_id}", b"the source bytes", "video/mp4")
    now = utc_now()
    stack.ctx.store.put_task(
        Task(
            id=task_id,
            workspace_id=workspace_id,
            status=TaskStatus.queued,
            task_type=TaskType.gaze_redirect,
            created_at=now,
            updated_at=now,
            source_key=f"sources/{workspace_id}/{task_id}",
        )
    )
    link = api.get(f"/v1/tasks/{task_id}/source")
    assert link.status_code == 200, link.text
    assert httpx.get(link.json()["url"]).content == b"the source bytes"
    assert other_api.get(f"/v1/tasks/{task_id}/source").status_code == 404
    assert api.get("/v1/tasks/task_missing/source").status_code == 404


@pytest.mark.timeout(120)
def test_local_stack_prints_the_console_and_lets_a_browser_upload(tmp_path: Any) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "framelane.cli", "local", "--port", str(port)],
        env={**os.environ, "FRAMELANE_HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 90
        assert process.stdout is not None
        while time.monotonic() < deadline and not any("Console:" in line for line in lines):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
        output = "".join(lines)
        console = re.search(r"Console: (http://127\.0\.0\.1:(\d+)/console)", output)
        key = re.search(r"API key: (\S+)", output)
        assert console and key, output
        assert int(console.group(2)) == port
        assert httpx.get(console.group(1)).status_code == 200

        origin = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        upload = httpx.post(
            f"{origin}/v1/uploads", json={"content_type": "video/mp4"}, headers=headers
        ).json()
        preflight = httpx.options(
            upload["upload_url"],
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == origin
        put = httpx.put(
            upload["upload_url"], content=b"bytes", headers={**upload["headers"], "Origin": origin}
        )
        assert put.status_code == 200 and put.headers["access-control-allow-origin"] == origin
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
