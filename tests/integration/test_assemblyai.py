"""The AssemblyAI path end to end: the real SDK against a loopback stand-in, a real state machine on moto, the
webhook into our callback route, and the polling fallback when no webhook comes."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from framelane.api.app import create_app
from framelane.local.in_process import start_in_process_pipeline, with_local_pipeline
from framelane.local.processes import free_port
from framelane.services.context import build_context
from framelane.services.workspaces import create_workspace
from tests.support.assemblyai_standin import API_KEY, StandIn, assemblyai_standin
from tests.support.servers import LoopbackServer, loopback_server
from tests.support.wer import word_error_rate

from .conftest import PIPELINE_OVERRIDES, Stack, serve_app
from .pipeline_helpers import wait_for_task

SENTENCE = "We can run the video processing on a graphics card or on the main processor."


@dataclass
class AaiStack:
    standin: StandIn
    api: httpx.Client
    origin: LoopbackServer
    source: str


@contextmanager
def _aai_stack(
    stack: Stack, standin: StandIn, origin: LoopbackServer, source: str, name: str, callback_timeout: int
) -> Iterator[AaiStack]:
    """A pipeline whose Transcribe step waits `callback_timeout` s for AssemblyAI's webhook before it polls."""
    port = free_port()
    settings = with_local_pipeline(
        stack.settings.model_copy(
            update={
                **PIPELINE_OVERRIDES,
                "stream_prefix": f"{name}:tasks",
                "assemblyai_api_key": API_KEY,
                "assemblyai_base_url": standin.url,
                "callback_base_url": f"http://127.0.0.1:{port}",
                "transcription_callback_timeout_seconds": callback_timeout,
                "transcription_poll_interval_seconds": 1,
            }
        ),
        name=name,
    )
    ctx = build_context(settings)
    in_process = start_in_process_pipeline(ctx, engines=None)
    key = create_workspace(ctx, name).api_key
    try:
        with (
            serve_app(create_app(settings, ctx), port) as url,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api,
        ):
            yield AaiStack(standin, api, origin, source)
    finally:
        in_process.stop()


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StandIn, LoopbackServer, str]]:
    speech = tmp_path_factory.mktemp("aai") / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(speech), SENTENCE], check=True)
    with assemblyai_standin() as standin, loopback_server() as origin:
        origin.respond("/hook", lambda _: (200, {}, b""))
        yield standin, origin, origin.serve_bytes("/speech.wav", speech.read_bytes(), "audio/wav")


@pytest.fixture(scope="module")
def aai(stack: Stack, parts: tuple[StandIn, LoopbackServer, str]) -> Iterator[AaiStack]:
    """Only AssemblyAI's webhook can finish a task here: the polling fallback starts after 10 minutes, far past
    every test's deadline."""
    with _aai_stack(stack, *parts, name="flaai", callback_timeout=600) as aai_stack:
        yield aai_stack


@pytest.fixture(scope="module")
def aai_polling(stack: Stack, parts: tuple[StandIn, LoopbackServer, str]) -> Iterator[AaiStack]:
    """The polling fallback starts 3 s after the submit."""
    with _aai_stack(stack, *parts, name="flaaipoll", callback_timeout=3) as aai_stack:
        yield aai_stack


def _submit(aai: AaiStack, **options: object) -> dict[str, object]:
    created = aai.api.post("/v1/tasks/transcribe", json={"source_url": aai.source, **options})
    assert created.status_code == 202, created.text
    return wait_for_task(aai.api, str(created.json()["id"]), timeout=120)


def _webhook_status(standin: StandIn, url: str, timeout: float = 30) -> int | None:
    """Our API's answer to the stand-in's webhook: the stand-in records it once our reply is back, which can be
    a moment after the task shows as completed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = [status for called, status in standin.webhook_calls if called == url]
        if statuses:
            return statuses[-1]
        time.sleep(0.05)
    return None


@pytest.fixture(scope="module")
def webhook_task(aai: AaiStack) -> dict[str, Any]:
    """One task finished through AssemblyAI's webhook (shared: each transcription takes seconds)."""
    aai.standin.send_webhooks, aai.standin.fail_with = True, None
    return _submit(
        aai,
        language_code="en",
        speaker_labels=True,
        analysis=["summarization", "entities"],
        webhook_url=aai.origin.url + "/hook",
    )


def test_completed_through_the_webhook_with_options_passed(
    aai: AaiStack, webhook_task: dict[str, Any]
) -> None:
    task = webhook_task
    assert task["status"] == "completed", task
    # the execution went on past Transcribe (resumed by the callback's SendTaskSuccess) to Notify
    deadline = time.monotonic() + 30
    while ("task.completed", task["id"]) not in [
        (event["type"], event["data"]["id"])
        for event in map(json.loads, (r.body for r in aai.origin.received("/hook")))
    ]:
        assert time.monotonic() < deadline, "no task.completed webhook: the Transcribe step was not resumed"
        time.sleep(0.1)
    [sent] = [r for r in aai.standin.requests if r["webhook_url"].endswith(task["id"])]
    assert sent["language_code"] == "en" and sent["speaker_labels"] is True
    assert sent["summarization"] is True and sent["entity_detection"] is True
    assert sent["webhook_url"].endswith(f"/v1/callbacks/assemblyai/{task['workspace_id']}/{task['id']}")
    assert sent["webhook_auth_header_name"] == "X-Framelane-Callback-Secret"
    # AssemblyAI fetched the ingested source through a presigned URL: nothing was uploaded to it
    assert f"/sources/{task['workspace_id']}/{task['id']}" in sent["audio_url"] and not aai.standin.uploads
    assert _webhook_status(aai.standin, sent["webhook_url"]) == 200  # our callback accepted it
    transcript = aai.api.get(f"/v1/tasks/{task['id']}/transcript").json()
    assert transcript["engine"] == "assemblyai" and transcript["unavailable"] == {}
    assert transcript["generator"]["engine"] == "assemblyai" and transcript["generator"]["version"]
    assert word_error_rate(SENTENCE, transcript["text"]) <= 0.2
    assert transcript["utterances"][0]["speaker"] == "A" and transcript["words"][0]["speaker"] == "A"
    assert (
        set(transcript["analysis"]) == {"summarization", "entities"}
        and transcript["analysis"]["summarization"]
    )


def test_standin_error_is_transcription_failed(aai: AaiStack) -> None:
    aai.standin.send_webhooks, aai.standin.fail_with = True, "Audio file could not be decoded"
    task = _submit(aai)
    assert task["status"] == "failed"
    assert task["error"] == {
        "code": "transcription_failed",
        "message": "AssemblyAI: Audio file could not be decoded",
    }


def test_polling_fallback_when_no_callback_comes(aai_polling: AaiStack) -> None:
    aai = aai_polling
    aai.standin.send_webhooks, aai.standin.fail_with = False, None  # only PollTranscript can finish it
    task = _submit(aai)
    assert not [url for url, _ in aai.standin.webhook_calls if url.endswith(task["id"])]
    assert task["status"] == "completed", task
    transcript = aai.api.get(f"/v1/tasks/{task['id']}/transcript").json()
    assert transcript["engine"] == "assemblyai" and word_error_rate(SENTENCE, transcript["text"]) <= 0.2


def test_callback_with_a_wrong_secret_is_refused(aai: AaiStack, webhook_task: dict[str, Any]) -> None:
    target = webhook_task  # a task with a callback secret
    response = aai.api.post(
        f"/v1/callbacks/assemblyai/{target['workspace_id']}/{target['id']}",
        json={"transcript_id": "x", "status": "completed"},
        headers={"X-Framelane-Callback-Secret": "guess"},
    )
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
