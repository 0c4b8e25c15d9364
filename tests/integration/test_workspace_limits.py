"""Workspace limits: defaults from settings, operator overrides (API and CLI), what the workspace sees."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from framelane.api.app import create_app
from framelane.cli import cli
from framelane.models import RenderMessage, TaskType
from framelane.services.context import ServiceContext, build_context
from framelane.services.workspaces import create_workspace

from .conftest import ADMIN_TOKEN, Stack, serve_app

ALL = [t for t in TaskType if t.is_renderer]


@pytest.fixture(scope="module")
def limits_api(stack: Stack) -> Iterator[tuple[str, ServiceContext]]:
    settings = stack.settings.model_copy(
        update={"stream_prefix": f"fllimits{time.time_ns()}:tasks", "workspace_concurrency": 5}
    )
    ctx = build_context(settings)
    with serve_app(create_app(settings, ctx)) as url:
        yield url, ctx


def _limits(url: str, *args: str) -> dict[str, object]:
    result = CliRunner().invoke(
        cli, ["--api-url", url, "workspace", "limits", *args, "--admin-token", ADMIN_TOKEN]
    )
    assert result.exit_code == 0, result.output
    parsed: dict[str, object] = json.loads(result.output)
    return parsed


def test_defaults_overrides_and_usage(limits_api: tuple[str, ServiceContext]) -> None:
    url, ctx = limits_api
    created = create_workspace(ctx, "limited")
    headers = {"Authorization": f"Bearer {created.api_key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
        shown = api.get("/v1/workspace").json()
        assert shown["id"] == created.workspace_id and shown["name"] == "limited"
        assert shown["limits"] == {
            "task_creation": {"per_minute": 600, "burst": 100},
            "requests": {"per_minute": 3000, "burst": 500},
            "concurrency": 5,
        }
        assert shown["usage"] == {"running": 0, "queued": 0}

        # one creation a minute: no token comes back while the three requests run, however loaded the machine
        changed = _limits(
            url, created.workspace_id, "--concurrency", "2", "--create-burst", "2", "--create-per-minute", "1"
        )
        assert changed["concurrency"] == 2
        assert changed["task_creation"] == {"per_minute": 1, "burst": 2}
        assert api.get("/v1/workspace").json()["limits"] == changed

        statuses = [api.post("/v1/tasks/gaze-redirect", json={}).status_code for _ in range(3)]
        assert statuses == [422, 422, 429]  # the overridden bucket of two

        broker = ctx.broker
        assert broker is not None
        for i in range(3):
            broker.enqueue(
                RenderMessage(
                    task_id=f"task_{i}",
                    workspace_id=created.workspace_id,
                    task_type=TaskType.gaze_redirect,
                    task_token="t",
                )
            )
        assert broker.take("w", ALL) is not None and broker.take("w", ALL) is not None
        assert broker.take("w", ALL) is None  # the operator's quota of two reached the broker
        assert api.get("/v1/workspace").json()["usage"] == {"running": 2, "queued": 1}

        back = _limits(
            url,
            created.workspace_id,
            *("--concurrency", "default", "--create-burst", "default", "--create-per-minute", "default"),
        )
        assert back == shown["limits"]
        assert broker.take("w", ALL) is not None  # back to the default of five

        assert _limits(url, created.workspace_id) == back  # no option: only shown


def test_operator_route_needs_the_token_and_a_real_workspace(limits_api: tuple[str, ServiceContext]) -> None:
    url, ctx = limits_api
    workspace_id = create_workspace(ctx, "guarded").workspace_id
    path = f"{url}/admin/workspaces/{workspace_id}/limits"
    assert httpx.patch(path, json={"concurrency": 1}).status_code == 401
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    missing = httpx.patch(f"{url}/admin/workspaces/ws_nope/limits", json={"concurrency": 1}, headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    invalid = httpx.patch(path, json={"concurrency": 0}, headers=admin)
    assert invalid.status_code == 422
    result = CliRunner().invoke(
        cli,
        [
            "--api-url",
            url,
            "workspace",
            "limits",
            workspace_id,
            "--concurrency",
            "many",
            "--admin-token",
            "x",
        ],
    )
    assert result.exit_code == 2 and "neither an integer nor 'default'" in result.output
