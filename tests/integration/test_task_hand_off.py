"""Creating a task ends by starting its state machine (moto over HTTP here). When that start fails, the
request fails (503) and no replay ever returns a task that will not run: the keyed retry adopts the stored
task and starts it; an unkeyed task is marked failed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from framelane.adapters.aws import sfn_client
from framelane.api.app import create_app
from framelane.local.pipeline_setup import LOCAL_ROLE_ARN
from framelane.models import WorkspaceCreated
from framelane.services.context import build_context

from .conftest import Stack, serve_app

ROUTE = "/v1/tasks/gaze-redirect"
BODY = {"source_url": "https://cdn.example.com/presenter.mp4", "intensity": 0.8}
ONE_STEP = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


@pytest.fixture(scope="module")
def state_machine(stack: Stack) -> str:
    return stack.ctx.sfn.create_state_machine("hand-off-test", ONE_STEP, LOCAL_ROLE_ARN)


@pytest.fixture
def missing_machine_api(
    stack: Stack, workspace: WorkspaceCreated, state_machine: str
) -> Iterator[httpx.Client]:
    """An API whose task state machine does not exist: every start_execution fails."""
    settings = stack.settings.model_copy(update={"task_state_machine_arn": state_machine + "-missing"})
    with (
        serve_app(create_app(settings, build_context(settings))) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {workspace.api_key}"}) as client,
    ):
        yield client


@pytest.fixture
def working_api(stack: Stack, workspace: WorkspaceCreated, state_machine: str) -> Iterator[httpx.Client]:
    settings = stack.settings.model_copy(update={"task_state_machine_arn": state_machine})
    with (
        serve_app(create_app(settings, build_context(settings))) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {workspace.api_key}"}) as client,
    ):
        yield client


def executions(stack: Stack, arn: str) -> set[str]:
    pages = sfn_client(stack.settings).get_paginator("list_executions").paginate(stateMachineArn=arn)
    return {execution["name"] for page in pages for execution in page["executions"]}


def test_a_failed_start_fails_the_request_and_the_keyed_retry_starts_the_same_task(
    stack: Stack, state_machine: str, missing_machine_api: httpx.Client, working_api: httpx.Client
) -> None:
    headers = {"Idempotency-Key": "start-fails-once"}
    failed = missing_machine_api.post(ROUTE, json=BODY, headers=headers)
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "service_unavailable"
    (stored,) = working_api.get("/v1/tasks").json()["data"]
    assert stored["id"] in failed.json()["error"]["message"]
    assert stored["id"] not in executions(stack, state_machine)

    # no lock to wait out: the retry takes the key over, adopts the stored task and starts it
    retried = working_api.post(ROUTE, json=BODY, headers=headers)
    assert retried.status_code == 202
    assert retried.json()["id"] == stored["id"]
    assert stored["id"] in executions(stack, state_machine)
    replay = working_api.post(ROUTE, json=BODY, headers=headers)
    assert replay.status_code == 200 and replay.json()["id"] == stored["id"]
    assert len(working_api.get("/v1/tasks").json()["data"]) == 1


def test_an_unkeyed_task_that_cannot_start_is_failed(
    missing_machine_api: httpx.Client, working_api: httpx.Client
) -> None:
    failed = missing_machine_api.post(ROUTE, json=BODY)
    assert failed.status_code == 503
    (task,) = working_api.get("/v1/tasks").json()["data"]
    assert task["status"] == "failed"
    assert task["error"] == {"code": "internal_error", "message": "the task could not be started"}
