"""services.transcription over the in-memory stores, a fake broker and a fake AssemblyAI client: the Transcribe and
PollTranscript steps, the callback, the offline path's transitions and how a transcript is stored."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from framelane.adapters.assemblyai import RemoteTranscript
from framelane.errors import TaskCancelled, TaskFailure, TranscriptionPending, Unauthorized, WorkspaceBusy
from framelane.models import (
    AssemblyAiCallback,
    MediaInfo,
    ProgressStage,
    Task,
    TaskErrorCode,
    TaskExecutionInput,
    TaskStatus,
    TaskType,
    Transcript,
    TranscriptWord,
    Workspace,
    WorkspaceLimits,
    utc_now,
)
from framelane.services import transcription
from framelane.services.context import ServiceContext
from framelane.services.transcription import (
    ASSEMBLYAI_SOURCE_URL_SECONDS,
    assemblyai_callback,
    store_transcript,
    transcribe_offline_task,
    transcribe_task,
    transcript_key,
)
from framelane.transcription import pace
from framelane.weights import ModelMissing
from tests.unit.broker_fakes import broker, brokered_context
from tests.unit.fakes import fake_context, store, workflows

WS = "ws_1"
KEY = {"assemblyai_api_key": "aai-key"}


def _words(text: str = "hello world") -> Transcript:
    words = [
        TranscriptWord(text=w, start=float(i), end=i + 0.5, confidence=0.9)
        for i, w in enumerate(text.split())
    ]
    return Transcript(task_id="task_1", engine="assemblyai", audio_duration=2.5, text=text, words=words)


@dataclass
class FakeAssemblyAi:
    submitted: list[tuple[str, dict[str, Any], str | None, str]] = field(default_factory=list)
    remote: RemoteTranscript = field(default_factory=lambda: RemoteTranscript("processing", None, None))
    fails: Exception | None = None

    def submit(
        self, audio_url: str, options: dict[str, Any], webhook_url: str | None, webhook_secret: str
    ) -> str:
        if self.fails:
            raise self.fails
        self.submitted.append((audio_url, options, webhook_url, webhook_secret))
        return "tr_1"

    def fetch(self, task_id: str, transcript_id: str, requested: dict[str, Any]) -> RemoteTranscript:
        if self.fails:
            raise self.fails
        assert (task_id, transcript_id, requested) == ("task_1", "tr_1", {"language_code": "en"})
        return self.remote


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> FakeAssemblyAi:
    fake = FakeAssemblyAi()

    def client_for(ctx: ServiceContext) -> FakeAssemblyAi:
        assert ctx.settings.assemblyai_api_key
        return fake

    monkeypatch.setattr(transcription, "_assemblyai_client", client_for)
    return fake


def _task(ctx: ServiceContext, status: TaskStatus = TaskStatus.queued, **fields: Any) -> Task:
    now = utc_now()
    values: dict[str, Any] = {
        "id": "task_1",
        "workspace_id": WS,
        "status": status,
        "created_at": now,
        "updated_at": now,
        "task_type": TaskType.transcribe,
        "source_key": "sources/ws_1/task_1/source",
        "options": {"language_code": "en"},
        **fields,
    }
    task = Task(**values)
    store(ctx).tasks[WS, task.id] = task
    return task


def _payload(poll: bool = False) -> TaskExecutionInput:
    return TaskExecutionInput(
        task_id="task_1",
        workspace_id=WS,
        task_type=TaskType.transcribe,
        source_url="https://m.example/a",
        poll=poll,
    )


def _stored(ctx: ServiceContext) -> Task:
    return store(ctx).tasks[WS, "task_1"]


# the Transcribe step


def test_a_completed_task_is_answered_as_it_is() -> None:
    ctx = brokered_context()
    _task(ctx, TaskStatus.completed)
    outcome = transcribe_task(ctx, _payload(), "tok")
    assert outcome is not None and outcome.status is TaskStatus.completed and broker(ctx).slots == []


@pytest.mark.parametrize("status", [TaskStatus.failed, TaskStatus.cancelled])
def test_an_ended_task_is_a_cancel_signal(status: TaskStatus) -> None:
    ctx = brokered_context()
    _task(ctx, status)
    with pytest.raises(TaskCancelled, match=f"task is {status}"):
        transcribe_task(ctx, _payload(), "tok")


def test_a_task_that_was_not_ingested_fails() -> None:
    ctx = brokered_context()
    _task(ctx, source_key=None)
    for step in (
        lambda: transcribe_task(ctx, _payload(), "tok"),
        lambda: transcribe_offline_task(ctx, _stored(ctx)),
    ):
        with pytest.raises(TaskFailure) as raised:
            step()
        assert (raised.value.code, raised.value.message) == (
            TaskErrorCode.internal_error,
            "task was not ingested",
        )


def test_a_transcription_holds_a_slot_of_the_workspace_quota(client: FakeAssemblyAi) -> None:
    ctx = brokered_context(
        **KEY, transcription_callback_timeout_seconds=100, transcription_poll_interval_seconds=7
    )
    store(ctx).workspaces[WS] = Workspace(
        id=WS, name="w", created_at=utc_now(), signing_secret="whsec_x", limits=WorkspaceLimits(concurrency=3)
    )
    _task(ctx)
    transcribe_task(ctx, _payload(), "tok")
    assert broker(ctx).slots == [(WS, "task_1", 3, 114, False)]
    client.remote = RemoteTranscript("processing", None, None)
    with pytest.raises(TranscriptionPending):
        transcribe_task(ctx, _payload(poll=True), "tok")
    assert broker(ctx).slots[-1] == (WS, "task_1", 3, 114, True)  # a poll renews whatever the quota


def test_without_a_free_slot_the_step_waits_as_workspace_busy() -> None:
    ctx = brokered_context(workspace_concurrency=2)
    broker(ctx).slot_free = False
    _task(ctx)
    with pytest.raises(WorkspaceBusy, match="already runs 2 tasks at once"):
        transcribe_task(ctx, _payload(), "tok")
    assert _stored(ctx).status is TaskStatus.queued


def test_submitting_to_assemblyai_lets_it_fetch_the_source_and_call_back(client: FakeAssemblyAi) -> None:
    ctx = brokered_context(**KEY, callback_base_url="https://api.example/")
    _task(ctx)
    assert transcribe_task(ctx, _payload(), "tok") is None
    ((audio_url, options, webhook, secret),) = client.submitted
    assert audio_url == ctx.blobs.presigned_get("sources/ws_1/task_1/source", expires_in=6 * 3600)
    assert ASSEMBLYAI_SOURCE_URL_SECONDS == 6 * 3600
    assert options == {"language_code": "en"}
    assert webhook == "https://api.example/v1/callbacks/assemblyai/ws_1/task_1"
    task = _stored(ctx)
    assert task.callback_secret == secret and len(secret) >= 32 and task.step_token == "tok"
    assert task.external_id == "tr_1" and task.status is TaskStatus.processing
    assert (task.progress_stage, task.progress_percent) == (ProgressStage.compositing, 10)


def test_without_a_public_callback_url_assemblyai_is_polled(client: FakeAssemblyAi) -> None:
    ctx = brokered_context(**KEY)
    _task(ctx)
    transcribe_task(ctx, _payload(), "tok")
    assert client.submitted[0][2] is None


def test_a_redelivered_submit_waits_on_the_new_token(client: FakeAssemblyAi) -> None:
    ctx = brokered_context(**KEY)
    _task(ctx, TaskStatus.processing, external_id="tr_1", step_token="old")
    assert transcribe_task(ctx, _payload(), "new") is None
    assert client.submitted == [] and _stored(ctx).step_token == "new"


def test_an_assemblyai_refusal_fails_the_task_with_its_message(client: FakeAssemblyAi) -> None:
    ctx = brokered_context(**KEY)
    _task(ctx)
    client.fails = RuntimeError("quota exceeded")
    with pytest.raises(TaskFailure) as raised:
        transcribe_task(ctx, _payload(), "tok")
    assert raised.value.code is TaskErrorCode.transcription_failed
    assert raised.value.message == "AssemblyAI: quota exceeded"


def test_a_task_cancelled_during_the_submit_is_a_cancel_signal(client: FakeAssemblyAi) -> None:
    ctx = brokered_context(**KEY)
    _task(ctx)
    submit = client.submit

    def cancelled_meanwhile(*args: Any) -> str:
        store(ctx).tasks[WS, "task_1"] = _stored(ctx).model_copy(update={"status": TaskStatus.cancelled})
        return submit(*args)

    client.submit = cancelled_meanwhile  # type: ignore[method-assign]
    with pytest.raises(TaskCancelled, match=r"^task was cancelled$"):
        transcribe_task(ctx, _payload(), "tok")


def test_a_task_cancelled_before_the_submit_is_not_submitted(client: FakeAssemblyAi) -> None:
    ctx = brokered_context(**KEY)
    live = _task(ctx)
    store(ctx).tasks[WS, "task_1"] = live.model_copy(update={"status": TaskStatus.cancelled})
    store(ctx).get_task = lambda workspace_id, task_id: live  # type: ignore[method-assign]
    with pytest.raises(TaskCancelled, match=r"^task was cancelled$"):
        transcribe_task(ctx, _payload(), "tok")
    assert client.submitted == []


def test_the_client_is_built_with_the_configured_key_and_url(monkeypatch: pytest.MonkeyPatch) -> None:
    import assemblyai

    for name in ("api_key", "base_url"):  # the SDK's settings are global: put them back afterwards
        monkeypatch.setattr(assemblyai.settings, name, getattr(assemblyai.settings, name))
    ctx = fake_context(assemblyai_api_key="aai-key", assemblyai_base_url="https://aai.example")
    client = transcription._assemblyai_client(ctx)
    settings = client._aai.settings
    assert (settings.api_key, settings.base_url) == ("aai-key", "https://aai.example")


def test_polling_stores_a_completed_transcript(client: FakeAssemblyAi) -> None:
    ctx = brokered_context(**KEY)
    _task(ctx, TaskStatus.processing, external_id="tr_1")
    client.remote = RemoteTranscript("completed", None, _words())
    outcome = transcribe_task(ctx, _payload(poll=True), "tok")
    assert outcome is not None and outcome.status is TaskStatus.completed
    assert _stored(ctx).output_key == transcript_key(WS, "task_1")


@pytest.mark.parametrize(
    ("remote", "fails", "raised", "message"),
    [
        (RemoteTranscript("error", "bad audio", None), None, TaskFailure, "AssemblyAI: bad audio"),
        (RemoteTranscript("error", None, None), None, TaskFailure, "AssemblyAI: the transcript failed"),
        (
            RemoteTranscript("queued", None, None),
            None,
            TranscriptionPending,
            "AssemblyAI transcript is queued",
        ),
        (None, RuntimeError("timeout"), TranscriptionPending, "AssemblyAI could not be asked: timeout"),
    ],
)
def test_polling_reports_what_assemblyai_says(
    client: FakeAssemblyAi,
    remote: RemoteTranscript | None,
    fails: Exception | None,
    raised: type[Exception],
    message: str,
) -> None:
    ctx = brokered_context(**KEY)
    _task(ctx, TaskStatus.processing, external_id="tr_1")
    client.remote = remote or client.remote
    client.fails = fails
    with pytest.raises(raised) as caught:
        transcribe_task(ctx, _payload(poll=True), "tok")
    assert caught.value.message == message  # type: ignore[attr-defined]


def test_polling_without_a_submitted_transcript_fails(client: FakeAssemblyAi) -> None:
    ctx = brokered_context(**KEY)
    _task(ctx, TaskStatus.processing)
    with pytest.raises(TaskFailure) as raised:
        transcribe_task(ctx, _payload(poll=True), "tok")
    assert (raised.value.code, raised.value.message) == (
        TaskErrorCode.transcription_failed,
        "no transcript was submitted to AssemblyAI",
    )


def test_an_offline_poll_says_it_is_still_transcribing() -> None:
    ctx = brokered_context()
    _task(ctx, TaskStatus.processing)
    with pytest.raises(TranscriptionPending, match="still transcribing"):
        transcribe_task(ctx, _payload(poll=True), "tok")


# offline


def test_the_offline_engine_reads_the_downloaded_source(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = fake_context()
    _task(ctx, media=MediaInfo(duration=40, has_video=False, has_audio=True, size_bytes=3))
    ctx.blobs.put_bytes("sources/ws_1/task_1/source", b"RIFF")
    seen: list[Any] = []

    def offline(task_id: str, path: str, options: dict[str, object]) -> Transcript:
        task = _stored(ctx)
        seen.append((task_id, Path(path).read_bytes(), options, task.progress_stage, task.progress_percent))
        seen.append(task.estimated_seconds_remaining)
        paths.append(Path(path))
        return _words()

    paths: list[Path] = []
    downloads: list[tuple[ProgressStage | None, int | None, TaskStatus]] = []
    download = ctx.blobs.download_file

    def download_file(key: str, path: str) -> None:
        task = _stored(ctx)
        downloads.append((task.progress_stage, task.progress_percent, task.status))
        download(key, path)

    ctx.blobs.download_file = download_file  # type: ignore[method-assign]
    monkeypatch.setattr(transcription, "_offline", offline)
    outcome = transcribe_task(ctx, _payload(), "tok")
    assert outcome is not None and outcome.status is TaskStatus.completed
    assert downloads == [(ProgressStage.downloading, 0, TaskStatus.processing)]
    (path,) = paths
    assert path.name == "source" and path.parent.name.startswith("framelane-transcribe-")
    assert path.is_absolute() and not path.parent.exists()  # in a temporary directory, removed afterwards
    assert seen == [
        ("task_1", b"RIFF", {"language_code": "en"}, ProgressStage.compositing, 10),
        pace.seconds_for(40),
    ]


def test_an_offline_run_of_a_cancelled_task_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = fake_context()
    task = _task(ctx, TaskStatus.cancelled)
    with pytest.raises(TaskCancelled, match=r"^task was cancelled$"):
        transcribe_offline_task(ctx, task)
    ctx = fake_context()
    task = _task(ctx)
    ctx.blobs.put_bytes("sources/ws_1/task_1/source", b"RIFF")
    download = ctx.blobs.download_file

    def cancelled_meanwhile(key: str, path: str) -> None:
        download(key, path)
        store(ctx).tasks[WS, "task_1"] = _stored(ctx).model_copy(update={"status": TaskStatus.cancelled})

    ctx.blobs.download_file = cancelled_meanwhile  # type: ignore[method-assign]
    monkeypatch.setattr(transcription, "_offline", lambda *args: pytest.fail("transcribed a cancelled task"))
    with pytest.raises(TaskCancelled, match=r"^task was cancelled$"):
        transcribe_offline_task(ctx, task)


# storing


def test_a_transcript_becomes_the_tasks_output() -> None:
    ctx = fake_context()
    _task(ctx, TaskStatus.processing)
    transcript = _words()
    types: list[str | None] = []
    put = ctx.blobs.put_bytes

    def put_bytes(key: str, data: bytes, content_type: str | None = None) -> None:
        types.append(content_type)
        put(key, data, content_type)

    ctx.blobs.put_bytes = put_bytes  # type: ignore[method-assign]
    outcome = store_transcript(ctx, WS, "task_1", transcript)
    assert types == ["application/json"]
    body = ctx.blobs.get_bytes("outputs/ws_1/task_1/transcript.json")
    assert Transcript.model_validate_json(body) == transcript
    task = _stored(ctx)
    assert outcome.status is task.status is TaskStatus.completed and task.progress_percent == 100
    assert (
        task.output is not None and task.output.url == "s3://fake-bucket/outputs/ws_1/task_1/transcript.json"
    )
    assert (task.output.duration, task.output.size_bytes) == (2.5, len(body))
    assert task.output_key == "outputs/ws_1/task_1/transcript.json"


@pytest.mark.parametrize(
    ("text", "words", "stored"), [("  ", False, False), ("hi", False, True), ("", True, True)]
)
def test_no_speech_is_a_failure_of_its_own(text: str, words: bool, stored: bool) -> None:
    ctx = fake_context()
    _task(ctx, TaskStatus.processing)
    transcript = Transcript(
        task_id="task_1",
        engine="faster-whisper",
        audio_duration=1,
        text=text,
        words=_words().words if words else [],
    )
    if stored:
        store_transcript(ctx, WS, "task_1", transcript)
        return
    with pytest.raises(TaskFailure) as raised:
        store_transcript(ctx, WS, "task_1", transcript)
    assert raised.value.code is TaskErrorCode.no_speech_detected and ctx.blobs.objects == {}  # type: ignore[attr-defined]
    assert raised.value.message == "no speech was detected in the audio"


def test_a_transcript_of_a_cancelled_task_is_not_completed() -> None:
    ctx = fake_context()
    _task(ctx, TaskStatus.cancelled)
    with pytest.raises(TaskCancelled, match=r"^task was cancelled$"):
        store_transcript(ctx, WS, "task_1", _words())
    assert _stored(ctx).status is TaskStatus.cancelled


# the callback


def _callback(status: str = "completed") -> AssemblyAiCallback:
    return AssemblyAiCallback(transcript_id="tr_1", status=status)


@pytest.mark.parametrize(
    ("task_id", "secret"),
    [("task_1", "wrong"), ("task_1", None), ("task_2", "s3cret"), ("render_1", "s3cret")],
)
def test_the_callback_needs_the_tasks_secret(
    client: FakeAssemblyAi, task_id: str, secret: str | None
) -> None:
    ctx = fake_context(**KEY)
    _task(ctx, TaskStatus.processing, callback_secret="s3cret", external_id="tr_1", step_token="tok")
    store(ctx).tasks[WS, "render_1"] = _stored(ctx)
    with pytest.raises(Unauthorized, match=r"^unknown task or wrong callback secret$"):
        assemblyai_callback(ctx, WS, task_id, secret, _callback())
    _task(ctx, TaskStatus.processing, callback_secret=None)
    with pytest.raises(Unauthorized):
        assemblyai_callback(ctx, WS, "task_1", "", _callback())
    assert workflows(ctx).answers == []


def test_a_completed_callback_answers_the_waiting_step(client: FakeAssemblyAi) -> None:
    ctx = fake_context(**KEY)
    _task(ctx, TaskStatus.processing, callback_secret="s3cret", external_id="tr_1", step_token="tok")
    client.remote = RemoteTranscript("completed", None, _words())
    assemblyai_callback(ctx, WS, "task_1", "s3cret", _callback())
    ((kind, token, output),) = workflows(ctx).answers
    assert (kind, token, json.loads(output)) == (
        "succeed",
        "tok",
        {"task_id": "task_1", "status": "completed"},
    )


def test_a_failed_transcript_fails_the_waiting_step(client: FakeAssemblyAi) -> None:
    ctx = fake_context(**KEY)
    _task(ctx, TaskStatus.processing, callback_secret="s3cret", external_id="tr_1", step_token="tok")
    client.remote = RemoteTranscript("error", "unsupported", None)
    assemblyai_callback(ctx, WS, "task_1", "s3cret", _callback("error"))
    ((kind, token, (error, cause)),) = workflows(ctx).answers
    assert (kind, token, error, cause) == ("fail", "tok", "transcription_failed", "AssemblyAI: unsupported")


@pytest.mark.parametrize(
    ("status", "callback", "settings", "remote"),
    [
        (TaskStatus.cancelled, "completed", KEY, None),
        (TaskStatus.processing, "processing", KEY, None),
        (TaskStatus.processing, "completed", {}, None),
        (TaskStatus.processing, "completed", KEY, RemoteTranscript("processing", None, None)),
    ],
)
def test_a_callback_with_nothing_to_answer_answers_nothing(
    client: FakeAssemblyAi,
    status: TaskStatus,
    callback: str,
    settings: dict[str, str],
    remote: RemoteTranscript | None,
) -> None:
    ctx = fake_context(**settings)
    _task(ctx, status, callback_secret="s3cret", external_id="tr_1", step_token="tok")
    client.remote = remote or RemoteTranscript("completed", None, _words())
    assemblyai_callback(ctx, WS, "task_1", "s3cret", _callback(callback))
    assert workflows(ctx).answers == [] and _stored(ctx).status is status


def test_a_callback_without_a_waiting_step_only_stores(client: FakeAssemblyAi) -> None:
    ctx = fake_context(**KEY)
    _task(ctx, TaskStatus.processing, callback_secret="s3cret", external_id="tr_1")
    client.remote = RemoteTranscript("completed", None, _words())
    assemblyai_callback(ctx, WS, "task_1", "s3cret", _callback())
    assert workflows(ctx).answers == [] and _stored(ctx).status is TaskStatus.completed
    _task(ctx, TaskStatus.processing, callback_secret="s3cret", external_id="tr_1")
    client.remote = RemoteTranscript("error", None, None)
    assemblyai_callback(ctx, WS, "task_1", "s3cret", _callback("error"))
    assert workflows(ctx).answers == []


def test_without_the_offline_engine_installed_the_task_says_to_configure_a_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "framelane.transcription.offline", None)
    with pytest.raises(TaskFailure) as raised:
        transcription._offline("task_1", "/nowhere", {})
    assert raised.value.code is TaskErrorCode.transcription_failed
    assert raised.value.message == (
        "the offline engine is not installed here (framelane.transcription.offline); configure an AssemblyAI key"
    )


def test_a_missing_model_fails_the_transcription_with_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    offline = types.ModuleType("framelane.transcription.offline")
    seen: list[Any] = []

    def transcribe_offline(task_id: str, path: str, options: dict[str, object]) -> Transcript:
        seen.append((task_id, path, options))
        raise ModelMissing("whisper-base is not in the weights cache")

    offline.transcribe_offline = transcribe_offline  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "framelane.transcription.offline", offline)
    with pytest.raises(TaskFailure) as raised:
        transcription._offline("task_1", "/src", {"language_code": "de"})
    assert (raised.value.code, raised.value.message) == (
        TaskErrorCode.transcription_failed,
        "whisper-base is not in the weights cache",
    )
    assert seen == [("task_1", "/src", {"language_code": "de"})]


def test_a_submit_starts_from_the_upload_stage_and_keeps_the_base_urls_path(client: FakeAssemblyAi) -> None:
    ctx = brokered_context(**KEY, callback_base_url="https://api.example/framelaneX/")
    _task(ctx, TaskStatus.processing, progress_stage=ProgressStage.downloading, progress_percent=5)
    at_submit: list[tuple[ProgressStage | None, int | None]] = []
    submit = client.submit

    def recording_submit(
        audio_url: str, options: dict[str, Any], webhook_url: str | None, secret: str
    ) -> str:
        at_submit.append((_stored(ctx).progress_stage, _stored(ctx).progress_percent))
        return submit(audio_url, options, webhook_url, secret)

    client.submit = recording_submit  # type: ignore[method-assign]
    transcribe_task(ctx, _payload(), "tok")
    assert at_submit == [(ProgressStage.uploading, 0)]  # AssemblyAI fetching the source
    ((_, _, webhook, _),) = client.submitted
    assert webhook == "https://api.example/framelaneX/v1/callbacks/assemblyai/ws_1/task_1"


def test_an_offline_rerun_starts_its_progress_again(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = fake_context()
    _task(ctx, TaskStatus.processing, progress_stage=ProgressStage.compositing, progress_percent=10)
    ctx.blobs.put_bytes("sources/ws_1/task_1/source", b"RIFF")
    downloads: list[tuple[ProgressStage | None, int | None]] = []
    download = ctx.blobs.download_file

    def download_file(key: str, path: str) -> None:
        downloads.append((_stored(ctx).progress_stage, _stored(ctx).progress_percent))
        download(key, path)

    ctx.blobs.download_file = download_file  # type: ignore[method-assign]
    monkeypatch.setattr(transcription, "_offline", lambda task_id, path, options: _words())
    transcribe_task(ctx, _payload(), "tok")
    assert downloads == [(ProgressStage.downloading, 0)]  # a redelivered step after a worker died at 10 %
