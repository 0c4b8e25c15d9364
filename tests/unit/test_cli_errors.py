"""The CLI turns an API error from any command into its message and exit status 1, never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from framelane.cli import cli
from framelane.client import ApiError, FramelaneClient

API = ["--api-url", "http://127.0.0.1:9", "--api-key", "fl_test"]


def _refuse(status: int, code: str) -> object:
    def call(*_: object, **__: object) -> None:
        raise ApiError(status, code, "refused by the test")

    return call


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("get_task", [*API, "tasks", "get", "task_x"]),
        ("cancel_task", [*API, "tasks", "cancel", "task_x"]),
        ("list_tasks", [*API, "tasks", "list"]),
        ("issue_api_key", [*API, "workspace", "rotate-key", "ws_x", "--admin-token", "t"]),
        ("workspace_limits", [*API, "workspace", "limits", "ws_x", "--admin-token", "t"]),
    ],
)
def test_an_api_error_ends_the_command_with_its_message(
    monkeypatch: pytest.MonkeyPatch, method: str, args: list[str]
) -> None:
    monkeypatch.setattr(FramelaneClient, method, _refuse(409, "task_not_cancellable"))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "Error: 409 task_not_cancellable: refused by the test" in result.output
    assert isinstance(result.exception, SystemExit)
