"""Notify and delivery of a terminal event, on moto over HTTP with a loopback receiver: every destination gets
the event even when Notify fails midway and is redelivered, and every attempt carries an output link signed
at attempt time (links last 24 h, retries run for days) under the same webhook-id."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import standardwebhooks

from framelane.adapters.aws import sfn_client
from framelane.adapters.stepfunctions import StepFunctions
from framelane.ids import new_task_id
from framelane.local.pipeline_setup import LOCAL_ROLE_ARN
from framelane.models import (
    JobOutput,
    NotifyMessage,
    Task,
    TaskStatus,
    TaskType,
    WebhookDeliveryInput,
    WebhookEndpointCreate,
    WebhookEvent,
    WebhookPayload,
    WorkspaceCreated,
    utc_now,
)
from framelane.services.context import ServiceContext, build_context
from framelane.services.notify import event_id, notify
from framelane.services.webhook_delivery import deliver
from framelane.services.webhooks import create_endpoint
from tests.support.servers import LoopbackServer, loopback_server

from .conftest import Stack

ONE_STEP = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
OUTPUT = b"rendered video bytes"


LINK_LIFETIME = timedelta(hours=24)


def expires_at(link: str) -> datetime:
    """When a presigned S3 link expires (SigV4 or SigV2 query)."""
    query = {name: values[0] for name, values in parse_qs(urlsplit(link).query).items()}
    if "X-Amz-Date" in query:
        signed = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return signed + timedelta(seconds=int(query["X-Amz-Expires"]))
    return datetime.fromtimestamp(int(query["Expires"]), UTC)


class FailsOnceAtTheSecondStart(StepFunctions):
    """The real adapter, but the second delivery start of the first Notify fails (a throttled API call)."""

    def __init__(self, base: StepFunctions) -> None:
        super().__init__(base._client, base.task_state_machine_arn, base.webhook_state_machine_arn)
        self.starts = 0

    def start_webhook_delivery(self, name: str, payload_json: str) -> None:
        self.starts += 1
        if self.starts == 2:
            raise RuntimeError("ThrottlingException")
        super().start_webhook_delivery(name, payload_json)


@pytest.fixture(scope="module")
def webhook_machine(stack: Stack) -> str:
    return stack.ctx.sfn.create_state_machine("notify-destinations-test", ONE_STEP, LOCAL_ROLE_ARN)


@pytest.fixture
def ctx(stack: Stack, webhook_machine: str) -> ServiceContext:
    return build_context(stack.settings.model_copy(update={"webhook_state_machine_arn": webhook_machine}))


@pytest.fixture
def receiver() -> Iterator[LoopbackServer]:
    with loopback_server() as server:
        server.respond("/hook", lambda _: (200, {}, b""))
        yield server


def completed_task(ctx: ServiceContext, workspace: WorkspaceCreated, webhook_url: str | None = None) -> Task:
    task_id = new_task_id()
    key = f"outputs/{workspace.workspace_id}/{task_id}/output.mp4"
    ctx.blobs.put_bytes(key, OUTPUT, "video/mp4")
    now = utc_now()
    task = Task(
        id=task_id,
        workspace_id=workspace.workspace_id,
        status=TaskStatus.completed,
        created_at=now,
        updated_at=now,
        completed_at=now,
        task_type=TaskType.gaze_redirect,
        progress_percent=100,
        output=JobOutput(url=f"s3://{ctx.blobs.bucket}/{key}", width=320, height=180, duration=1.0),
        output_key=key,
        webhook_url=webhook_url,
    )
    ctx.store.put_task(task)
    return task


def test_a_notify_that_fails_midway_reaches_every_destination_once_redelivered(
    stack: Stack, ctx: ServiceContext, workspace: WorkspaceCreated, webhook_machine: str
) -> None:
    ws = ctx.store.get_workspace(workspace.workspace_id)
    assert ws is not None
    endpoints = [
        create_endpoint(ctx, ws, WebhookEndpointCreate(url=f"https://hooks{i}.example.com/h")).id
        for i in range(3)
    ]
    task = completed_task(ctx, workspace)
    message = NotifyMessage(
        task_id=task.id, workspace_id=task.workspace_id, event=WebhookEvent.task_completed
    )
    flaky = dataclasses.replace(ctx, sfn=FailsOnceAtTheSecondStart(ctx.sfn))

    with pytest.raises(RuntimeError):
        notify(flaky, message)  # the queue will deliver the message again
    assert notify(flaky, message) == 2  # the two destinations the failure skipped
    assert notify(flaky, message) == 0  # and nothing twice

    pages = (
        sfn_client(stack.settings).get_paginator("list_executions").paginate(stateMachineArn=webhook_machine)
    )
    started = {e["name"] for page in pages for e in page["executions"]}
    evt = event_id(task.id, WebhookEvent.task_completed)
    assert {name for name in started if name.startswith(evt)} == {f"{evt}-{e}" for e in endpoints}


def test_every_attempt_carries_an_output_link_signed_at_attempt_time(
    ctx: ServiceContext, workspace: WorkspaceCreated, receiver: LoopbackServer
) -> None:
    task = completed_task(ctx, workspace, webhook_url=receiver.url + "/hook")
    evt = event_id(task.id, WebhookEvent.task_completed)
    assert task.output is not None
    # the body as Notify rendered it three days ago: its 24 h link is long dead
    stale = task.output.model_copy(update={"url": "https://stale.example/link"})
    body = WebhookPayload(
        type=WebhookEvent.task_completed,
        id=evt,
        created_at=task.created_at,
        data=task.to_out().model_copy(update={"output": stale}),
    ).model_dump_json()
    secret = ctx.store.get_workspace(workspace.workspace_id).signing_secret  # type: ignore[union-attr]
    for attempt in (1, 4):
        signed_after = datetime.now(UTC).replace(microsecond=0)
        delivery = WebhookDeliveryInput(
            workspace_id=task.workspace_id,
            url=receiver.url + "/hook",
            event_id=evt,
            body=body,
            attempt=attempt,
        )
        assert deliver(ctx, delivery).delivered
        request = receiver.received("/hook")[-1]
        assert request.headers["webhook-id"] == evt
        sent = standardwebhooks.Webhook(secret).verify(request.body, request.headers)
        link = sent["data"]["output"]["url"]
        assert signed_after + LINK_LIFETIME <= expires_at(link) <= datetime.now(UTC) + LINK_LIFETIME
        assert httpx.get(link, timeout=10).content == OUTPUT
        assert {k: v for k, v in sent["data"].items() if k != "output"} == {
            k: v for k, v in json.loads(body)["data"].items() if k != "output"
        }
