"""The AWS stage's task state machine, run on the local stack: the ASL the CDK deploys, built from the same stage
config (cdk.json's context through `StageConfig.task_machine`, which the infra tests prove is what the
synthesized template holds), with the keeper interval of the backlog Lambda's schedule and the stage's queue wait.

- Without an AssemblyAI key (the dev stage), a transcribe task goes through the broker's transcribe stream to a
  real worker running the real offline engine: nothing transcribes it until a worker runs.
- Waiting is not failing: a render whose first worker starts only after the Render step's HeartbeatSeconds has
  passed still completes (the keeper heartbeats it while it waits). This is the suite's one long test (~5.5 min).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from framelane.api.app import create_app
from framelane.local.bootstrap import bootstrap_stores
from framelane.local.in_process import start_in_process_pipeline
from framelane.local.pipeline_setup import create_local_pipeline
from framelane.media.samples import make_sample_clip
from framelane.models import TaskType
from framelane.pipeline.asl import TaskMachineConfig
from framelane.services.context import ServiceContext, build_context
from framelane.services.workspaces import create_workspace
from framelane.worker.backlog import stream_backlog
from infra.config import KEEPER_INTERVAL_SECONDS, StageConfig
from tests.support.servers import LoopbackServer, loopback_server
from tests.support.wer import word_error_rate

from .conftest import Stack, serve_app
from .pipeline_helpers import thread_worker, wait_for_task
from .test_transcription import speak

pytestmark = pytest.mark.integration

CDK_CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]
STAGE = StageConfig.from_context(CDK_CONTEXT)
SENTENCE = "Please send the report to the team before noon."


@dataclass(frozen=True)
class AwsStage:
    ctx: ServiceContext
    api: httpx.Client
    origin: LoopbackServer
    machine: TaskMachineConfig


@pytest.fixture(scope="module")
def aws(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsStage]:
    machines: list[TaskMachineConfig] = []

    def stage_machine(urls: Mapping[str, str]) -> TaskMachineConfig:
        machines.append(STAGE.task_machine(urls))
        return machines[-1]

    base = stack.settings.model_copy(
        update={
            # its own table, bucket and streams: the session pipeline's keeper never tends these renders
            "table_name": "flaws",
            "bucket": "flaws-media",
            "stream_prefix": "flaws:tasks",
            "render_queue_wait_seconds": float(STAGE.render_queue_wait_seconds),
            "render_queue_keeper_interval": float(KEEPER_INTERVAL_SECONDS),
        }
    )
    stores = build_context(base)
    bootstrap_stores(stores)
    pipeline = create_local_pipeline(base, stores.sfn, stores.blobs, "flaws", task_machine=stage_machine)
    settings = base.model_copy(
        update={
            "queue_url_prefix": pipeline.queue_url_prefix,
            "task_state_machine_arn": pipeline.task_state_machine_arn,
            "webhook_state_machine_arn": pipeline.webhook_state_machine_arn,
        }
    )
    ctx = build_context(settings)
    clip = make_sample_clip(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=1).read_bytes()
    in_process = start_in_process_pipeline(
        ctx, engines=None
    )  # pollers and the keeper; workers start per test
    try:
        with serve_app(create_app(settings, ctx)) as url, loopback_server() as origin:
            origin.serve_bytes("/clip.mp4", clip)
            workspace = create_workspace(ctx, "aws-stage")
            headers = {"Authorization": f"Bearer {workspace.api_key}"}
            with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
                yield AwsStage(ctx, api, origin, machines[0])
    finally:
        in_process.stop()


def _wait_in_stream(aws: AwsStage, task_id: str, task_type: TaskType) -> None:
    deadline = time.monotonic() + 60
    while stream_backlog(aws.ctx)[task_type.value] < 1:
        task = aws.api.get(f"/v1/tasks/{task_id}").json()
        assert task["status"] in {"ingesting", "queued"}, task
        assert time.monotonic() < deadline, f"never reached the {task_type} stream: {task}"
        time.sleep(0.2)


def test_without_an_assemblyai_key_a_worker_transcribes_through_the_broker(
    aws: AwsStage, tmp_path: Path
) -> None:
    assert aws.machine.transcribe_on_workers and not STAGE.assemblyai_secret_name
    source = aws.origin.serve_bytes(
        "/speech.wav", speak(SENTENCE, tmp_path / "speech.wav").read_bytes(), "audio/wav"
    )
    created = aws.api.post("/v1/tasks/transcribe", json={"source_url": source, "language_code": "en"})
    assert created.status_code == 202, created.text
    task_id = created.json()["id"]
    _wait_in_stream(aws, task_id, TaskType.transcribe)
    assert aws.api.get(f"/v1/tasks/{task_id}").json()["status"] == "queued"  # no step transcribes it

    with thread_worker(aws.ctx, "flaws-transcriber"):
        task = wait_for_task(aws.api, task_id, timeout=180)
    assert task["status"] == "completed", task
    transcript = aws.api.get(f"/v1/tasks/{task_id}/transcript").json()
    assert transcript["engine"] == "faster-whisper"
    assert word_error_rate(SENTENCE, transcript["text"]) <= 0.2, transcript["text"]
    assert stream_backlog(aws.ctx)[TaskType.transcribe.value] == 0  # ACKed once settled


@pytest.mark.timeout(600)  # the Render step's 300 s heartbeat, waited out on purpose
def test_a_render_whose_first_worker_starts_after_the_heartbeat_still_completes(aws: AwsStage) -> None:
    heartbeat = aws.machine.render_heartbeat_seconds
    assert heartbeat >= 3 * KEEPER_INTERVAL_SECONDS  # several keeper passes fit in one heartbeat
    created = aws.api.post(
        "/v1/tasks/super-resolution", json={"source_url": aws.origin.url + "/clip.mp4", "scale": 1.5}
    )
    assert created.status_code == 202, created.text
    task_id = created.json()["id"]
    _wait_in_stream(aws, task_id, TaskType.super_resolution)
    queued_since = time.monotonic()
    while time.monotonic() - queued_since < heartbeat + 20:  # no worker yet: the fleet is "starting"
        task = aws.api.get(f"/v1/tasks/{task_id}").json()
        assert task["status"] == "queued", task  # not worker_lost, not queue_timeout
        time.sleep(5)

    with thread_worker(aws.ctx, "flaws-late-worker"):
        task = wait_for_task(aws.api, task_id, timeout=120)
    assert task["status"] == "completed", task
    assert task["output"]["width"] == 160
