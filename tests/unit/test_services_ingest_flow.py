"""services.ingest end to end over fakes (probe, keyframe plan and HTTP client stand in for ffprobe/PyAV and the
network, which tests/integration use for real) and services.finalize's branches: what ingest stores, refuses and
segments, and which event finalize announces."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from framelane.errors import TaskCancelled, TaskFailure
from framelane.media.probe import NotMedia
from framelane.media.segments import Cut
from framelane.models import (
    FinalizeInput,
    MediaInfo,
    Segment,
    StepError,
    Task,
    TaskErrorCode,
    TaskExecutionInput,
    TaskStatus,
    TaskType,
    WebhookEvent,
    utc_now,
)
from framelane.security.safe_http import FetchError, FetchLimits
from framelane.services import finalize as finalize_module
from framelane.services import ingest as ingest_module
from framelane.services.context import ServiceContext
from framelane.services.finalize import finalize, task_error
from framelane.services.ingest import check_output_size, ingest, source_key
from tests.unit.broker_fakes import brokered_context
from tests.unit.fakes import fake_context, store
from tests.unit.log_capture import record_logs

WS = "ws_1"
VIDEO = MediaInfo(duration=10, width=640, height=360, fps=25, has_video=True, has_audio=True, size_bytes=5)


@dataclass
class FakeResponse:
    status: int
    body: bytes
    limits: list[int] = field(default_factory=list)

    def iter_bytes(self, max_bytes: int) -> Iterator[bytes]:
        self.limits.append(max_bytes)
        yield self.body[:2]
        yield self.body[2:]


@dataclass
class FakeClient:
    response: FakeResponse | FetchError
    made: list[tuple[Any, FetchLimits]] = field(default_factory=list)
    requested: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, policy: Any, limits: FetchLimits) -> FakeClient:
        self.made.append((policy, limits))
        return self

    @contextmanager
    def request(self, method: str, url: str) -> Iterator[FakeResponse]:
        self.requested.append((method, url))
        if isinstance(self.response, FetchError):
            raise self.response
        yield self.response


@dataclass
class Media:
    info: MediaInfo | NotMedia = field(default_factory=lambda: VIDEO)
    cuts: list[Cut] = field(default_factory=list)
    probed: list[bytes] = field(default_factory=list)
    planned: list[tuple[float, float]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # every local path probed or planned


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> Media:
    fake = Media()

    def probe(path: str) -> MediaInfo:
        fake.probed.append(Path(path).read_bytes())
        fake.paths.append(path)
        if isinstance(fake.info, NotMedia):
            raise fake.info
        return fake.info

    def plan_cuts(path: str, seconds: float, warmup: float) -> list[Cut]:
        fake.planned.append((seconds, warmup))
        fake.paths.append(path)
        return fake.cuts

    monkeypatch.setattr(ingest_module, "probe", probe)
    monkeypatch.setattr(ingest_module, "plan_cuts", plan_cuts)
    return fake


@pytest.fixture
def http(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient(FakeResponse(200, b"MEDIA"))
    monkeypatch.setattr(ingest_module, "SafeHttpClient", client)
    return client


def _task(ctx: ServiceContext, task_type: TaskType = TaskType.gaze_redirect, **fields: Any) -> Task:
    now = utc_now()
    task = Task(
        id="task_1",
        workspace_id=WS,
        status=fields.pop("status", TaskStatus.ingesting),
        created_at=now,
        updated_at=now,
        task_type=task_type,
        **fields,
    )
    store(ctx).tasks[WS, task.id] = task
    return task


def _payload(
    url: str = "https://media.example/a.mp4", task_type: TaskType = TaskType.gaze_redirect
) -> TaskExecutionInput:
    return TaskExecutionInput(task_id="task_1", workspace_id=WS, task_type=task_type, source_url=url)


def test_a_fetched_source_is_stored_probed_and_queued(media: Media, http: FakeClient) -> None:
    ctx = fake_context(fetch_connect_timeout=3, fetch_read_timeout=9, max_redirects=2, max_source_bytes=100)
    _task(ctx)
    outcome = ingest(ctx, _payload())
    assert (outcome.task_id, outcome.status, outcome.segmented, outcome.segments) == (
        "task_1",
        TaskStatus.queued,
        False,
        [],
    )
    assert http.made == [(ctx.outbound, FetchLimits(3, 9, 2))]
    assert http.requested == [("GET", "https://media.example/a.mp4")]
    assert isinstance(http.response, FakeResponse) and http.response.limits == [100]
    assert media.probed == [b"MEDIA"] and ctx.blobs.get_bytes("sources/ws_1/task_1") == b"MEDIA"
    task = store(ctx).tasks[WS, "task_1"]
    assert (task.status, task.source_key, task.media, task.segments) == (
        TaskStatus.queued,
        "sources/ws_1/task_1",
        VIDEO,
        None,
    )
    assert source_key("ws_9", "task_9") == "sources/ws_9/task_9"


def test_an_upload_is_read_in_place_with_its_key_unquoted(media: Media, http: FakeClient) -> None:
    ctx = fake_context()
    _task(ctx, status=TaskStatus.queued)
    key = "uploads/ws_1/files/my clip.mp4"
    ctx.blobs.put_bytes(key, b"UPLOADED")
    uploads: list[str] = []
    ctx.blobs.upload_file = lambda path, key, content_type=None: uploads.append(key) or 0  # type: ignore[method-assign,func-returns-value]
    outcome = ingest(ctx, _payload(f"s3://{ctx.blobs.bucket}/uploads/ws_1/files/my%20clip.mp4"))
    assert outcome.status is TaskStatus.queued and http.requested == []
    assert media.probed == [b"UPLOADED"] and set(ctx.blobs.objects) == {key}  # type: ignore[attr-defined]
    assert uploads == []  # not stored again over itself
    assert store(ctx).tasks[WS, "task_1"].source_key == key


def test_an_upload_at_the_size_limit_is_accepted(media: Media) -> None:
    ctx = fake_context(max_source_bytes=8)
    _task(ctx)
    ctx.blobs.put_bytes("uploads/ws_1/files/a", b"12345678")
    assert ingest(ctx, _payload(f"s3://{ctx.blobs.bucket}/uploads/ws_1/files/a")).status is TaskStatus.queued


def test_refused_uploads_say_why(media: Media) -> None:
    ctx = fake_context(max_source_bytes=3)
    _task(ctx)
    ctx.blobs.put_bytes("uploads/ws_1/files/big", b"1234")
    for url, code, message in [
        (
            "s3://other-bucket/uploads/ws_1/files/a",
            TaskErrorCode.invalid_source,
            "s3:// sources must be uploads of this workspace",
        ),
        (
            "s3://fake-bucket/uploads/ws_1/files/none",
            TaskErrorCode.invalid_source,
            "nothing was uploaded to this source_url",
        ),
        (
            "s3://fake-bucket/uploads/ws_1/files/big",
            TaskErrorCode.source_too_large,
            "the upload is 4 bytes, over the 3-byte limit",
        ),
    ]:
        with pytest.raises(TaskFailure) as raised:
            ingest(ctx, _payload(url))
        assert (raised.value.code, raised.value.message) == (code, message)


def test_a_redriven_execution_answers_from_the_stored_ingest(media: Media, http: FakeClient) -> None:
    ctx = fake_context()
    segments = [Segment(index=0, frames=10), Segment(index=1, frames=5)]
    _task(ctx, status=TaskStatus.processing, media=VIDEO, source_key="sources/ws_1/task_1", segments=segments)
    outcome = ingest(ctx, _payload())
    assert (outcome.status, outcome.segmented, outcome.segments) == (TaskStatus.processing, True, [0, 1])
    assert http.requested == [] and media.probed == []


def test_half_an_ingest_is_done_again(media: Media, http: FakeClient) -> None:
    ctx = fake_context()
    _task(ctx, media=VIDEO)  # probed, but no source key stored
    assert ingest(ctx, _payload()).status is TaskStatus.queued and len(http.requested) == 1


@pytest.mark.parametrize(
    ("response", "code", "message"),
    [
        (FakeResponse(404, b""), TaskErrorCode.invalid_source, "Source URL returned 404."),
        (
            FetchError("connection refused"),
            TaskErrorCode.invalid_source,
            "Source URL could not be fetched: connection refused",
        ),
        (FetchError("over the limit", too_large=True), TaskErrorCode.source_too_large, "over the limit"),
    ],
)
def test_a_failed_fetch_says_why(
    media: Media, http: FakeClient, response: FakeResponse | FetchError, code: TaskErrorCode, message: str
) -> None:
    ctx = fake_context()
    _task(ctx)
    http.response = response
    with pytest.raises(TaskFailure) as raised:
        ingest(ctx, _payload())
    assert (raised.value.code, raised.value.message) == (code, message)
    assert ctx.blobs.objects == {} and store(ctx).tasks[WS, "task_1"].status is TaskStatus.ingesting  # type: ignore[attr-defined]


def test_a_source_over_the_byte_limit_is_refused_before_probing(media: Media, http: FakeClient) -> None:
    ctx = fake_context(max_source_bytes=4)
    _task(ctx)
    with pytest.raises(TaskFailure) as raised:
        ingest(ctx, _payload())
    assert raised.value.code is TaskErrorCode.source_too_large
    assert raised.value.message == "source is 5 bytes, over the 4-byte limit" and media.probed == []
    ctx = fake_context(max_source_bytes=5)
    _task(ctx)
    assert ingest(ctx, _payload()).status is TaskStatus.queued


@pytest.mark.parametrize(
    ("info", "task_type", "code", "message"),
    [
        (
            NotMedia("no streams"),
            TaskType.gaze_redirect,
            TaskErrorCode.invalid_source,
            "Source is not usable media: no streams",
        ),
        (
            VIDEO.model_copy(update={"duration": 60.5}),
            TaskType.gaze_redirect,
            TaskErrorCode.source_too_long,
            "source lasts 60.5 s, over the 60 s limit",
        ),
        (
            VIDEO.model_copy(update={"has_video": False}),
            TaskType.gaze_redirect,
            TaskErrorCode.unsupported_media,
            "source has no video track",
        ),
        (
            VIDEO.model_copy(update={"has_audio": False}),
            TaskType.transcribe,
            TaskErrorCode.unsupported_media,
            "source has no audio track",
        ),
    ],
)
def test_unusable_media_is_refused(
    media: Media,
    http: FakeClient,
    info: MediaInfo | NotMedia,
    task_type: TaskType,
    code: TaskErrorCode,
    message: str,
) -> None:
    ctx = fake_context(max_source_seconds=60)
    _task(ctx, task_type)
    media.info = info
    with pytest.raises(TaskFailure) as raised:
        ingest(ctx, _payload(task_type=task_type))
    assert (raised.value.code, raised.value.message) == (code, message)


@pytest.mark.parametrize(
    ("info", "task_type"),
    [
        (VIDEO.model_copy(update={"duration": 60}), TaskType.gaze_redirect),  # the limit itself
        (VIDEO.model_copy(update={"has_video": False}), TaskType.transcribe),  # audio is enough
        (VIDEO.model_copy(update={"has_audio": False}), TaskType.remove_background),  # video is enough
    ],
)
def test_usable_media_passes(media: Media, http: FakeClient, info: MediaInfo, task_type: TaskType) -> None:
    ctx = fake_context(max_source_seconds=60)
    _task(ctx, task_type)
    media.info = info
    assert ingest(ctx, _payload(task_type=task_type)).status is TaskStatus.queued


def test_the_stored_task_type_decides_over_the_payloads(media: Media, http: FakeClient) -> None:
    ctx = fake_context()
    _task(ctx, TaskType.transcribe)
    media.info = VIDEO.model_copy(update={"has_audio": False})
    with pytest.raises(TaskFailure, match="no audio track"):
        ingest(ctx, _payload())


def test_an_upscale_above_4k_is_refused_at_ingest(media: Media, http: FakeClient) -> None:
    ctx = fake_context()
    _task(ctx, TaskType.super_resolution, options={"scale": 4})
    assert ingest(ctx, _payload(task_type=TaskType.super_resolution)).status is TaskStatus.queued  # 2560×1440
    ctx = fake_context()
    _task(ctx, TaskType.super_resolution, options={"scale": 4})
    media.info = VIDEO.model_copy(update={"width": 1280, "height": 720})
    with pytest.raises(TaskFailure) as raised:
        ingest(ctx, _payload(task_type=TaskType.super_resolution))
    assert raised.value.code is TaskErrorCode.source_too_large
    assert raised.value.message == "a 4× upscale of 1280×720 is 5120×2880, above 4K"


def test_upscales_default_to_2x_and_round_the_size() -> None:
    media = VIDEO.model_copy(update={"width": 1921, "height": 1080})
    with pytest.raises(TaskFailure, match="a 2× upscale of 1921×1080 is 3842×2160"):
        check_output_size(TaskType.super_resolution, {}, media)
    check_output_size(
        TaskType.super_resolution, {"scale": 1.999}, media
    )  # 3840.08 × 2158.92 rounds to 3840 × 2159
    check_output_size(TaskType.super_resolution, {"scale": 4}, VIDEO.model_copy(update={"width": None}))
    check_output_size(TaskType.super_resolution, {"scale": 4}, VIDEO.model_copy(update={"height": None}))


def test_a_long_renderer_source_is_cut_into_segments(media: Media, http: FakeClient) -> None:
    ctx = fake_context(segment_threshold_seconds=5, segment_seconds=4, segment_warmup_seconds=1)
    _task(ctx)
    media.cuts = [Cut(None, 100, None, 4), Cut(100, None, 90, 6)]
    outcome = ingest(ctx, _payload())
    assert (outcome.segmented, outcome.segments) == (True, [0, 1]) and media.planned == [(4, 1)]
    probed, planned = media.paths
    assert planned == probed  # the keyframes of the downloaded source
    assert Path(probed).is_absolute() and Path(probed).parent.name.startswith("framelane-ingest-")
    assert not Path(probed).parent.exists()  # a temporary directory, removed afterwards
    assert store(ctx).tasks[WS, "task_1"].segments == [
        Segment(index=0, start_pts=None, end_pts=100, warmup_pts=None, frames=4),
        Segment(index=1, start_pts=100, end_pts=None, warmup_pts=90, frames=6),
    ]


@pytest.mark.parametrize(
    ("threshold", "task_type", "cuts"),
    [
        (10, TaskType.gaze_redirect, 2),  # exactly the threshold: one render
        (5, TaskType.transcribe, 2),  # transcripts are never segmented
        (5, TaskType.gaze_redirect, 1),  # no keyframe to cut at
    ],
)
def test_short_sources_transcripts_and_uncuttable_sources_render_whole(
    media: Media, http: FakeClient, threshold: float, task_type: TaskType, cuts: int
) -> None:
    ctx = fake_context(segment_threshold_seconds=threshold)
    _task(ctx, task_type)
    media.cuts = [Cut(None, None, None, 1)] * cuts
    outcome = ingest(ctx, _payload(task_type=task_type))
    assert not outcome.segmented and store(ctx).tasks[WS, "task_1"].segments is None


def test_a_task_cancelled_during_ingest_is_a_signal(
    media: Media, http: FakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = fake_context()
    _task(ctx)
    real = media.info

    def cancel_meanwhile(path: str) -> MediaInfo:
        store(ctx).tasks[WS, "task_1"] = (
            store(ctx).tasks[WS, "task_1"].model_copy(update={"status": TaskStatus.cancelled})
        )
        assert isinstance(real, MediaInfo)
        return real

    monkeypatch.setattr(ingest_module, "probe", cancel_meanwhile)
    with pytest.raises(TaskCancelled, match="during ingest"):
        ingest(ctx, _payload())


# finalize


def _finalize(ctx: ServiceContext, error: str | None, cause: str | None = None) -> WebhookEvent | None:
    step_error = StepError(Error=error, Cause=cause) if error else None
    payload = FinalizeInput(
        task_id="task_1", workspace_id=WS, task_type=TaskType.transcribe, error=step_error
    )
    return finalize(ctx, payload).event


def test_a_transcription_releases_its_slot_whatever_the_outcome() -> None:
    ctx = brokered_context()
    released: list[tuple[str, str]] = []
    ctx.broker.release_slot = lambda ws, task: released.append((ws, task))  # type: ignore[union-attr]
    _task(ctx, TaskType.transcribe, status=TaskStatus.completed)
    assert _finalize(ctx, None) is WebhookEvent.task_completed
    assert released == [(WS, "task_1")]


def test_a_failed_slot_release_does_not_fail_finalize(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = brokered_context()
    logged = record_logs(monkeypatch, finalize_module)

    def release_slot(ws: str, task: str) -> None:
        raise ConnectionError("redis is down")

    ctx.broker.release_slot = release_slot  # type: ignore[union-attr]
    _task(ctx, TaskType.transcribe, status=TaskStatus.processing)
    assert _finalize(ctx, "transcription_failed", "bad audio") is WebhookEvent.task_failed
    assert logged == [("warning", "transcription slot not released; it expires", {"task_id": "task_1"})]


def test_a_render_keeps_its_slot_to_its_ack() -> None:
    ctx = brokered_context()
    ctx.broker.release_slot = lambda ws, task: pytest.fail("released a render's slot")  # type: ignore[union-attr]
    _task(ctx, TaskType.gaze_redirect, status=TaskStatus.completed)
    assert _finalize(ctx, None) is WebhookEvent.task_completed


def test_finalize_without_an_error_announces_only_completion() -> None:
    ctx = fake_context()
    _task(ctx, status=TaskStatus.processing)
    assert _finalize(ctx, None) is None


def test_an_already_failed_task_is_announced_without_a_second_write() -> None:
    ctx = fake_context()
    _task(ctx, status=TaskStatus.failed)
    store(ctx).transition_task = lambda *a, **k: pytest.fail("wrote again")  # type: ignore[method-assign]
    assert _finalize(ctx, "invalid_source", "bad") is WebhookEvent.task_failed


def test_a_failure_records_the_mapped_error() -> None:
    ctx = fake_context()
    _task(ctx, status=TaskStatus.processing)
    assert _finalize(ctx, "States.HeartbeatTimeout") is WebhookEvent.task_failed
    task = store(ctx).tasks[WS, "task_1"]
    assert task.status is TaskStatus.failed and task.error == task_error("States.HeartbeatTimeout", None)


def test_a_failure_that_loses_the_race_announces_nothing() -> None:
    ctx = fake_context()
    _task(ctx, status=TaskStatus.processing)
    real = store(ctx).transition_task

    def cancelled_first(to: Task, changed: set[str], *, from_statuses: set[TaskStatus]) -> Task:
        store(ctx).tasks[WS, "task_1"] = (
            store(ctx).tasks[WS, "task_1"].model_copy(update={"status": TaskStatus.cancelled})
        )
        return real(to, changed, from_statuses=from_statuses)

    store(ctx).transition_task = cancelled_first  # type: ignore[method-assign]
    assert _finalize(ctx, "invalid_source", "bad") is None


def test_long_causes_are_cut_to_1000_characters() -> None:
    assert task_error("invalid_source", "x" * 1200).message == "x" * 1000
    assert task_error("invalid_source", None).message == "invalid_source"


def test_an_s3_source_must_be_an_upload_key_as_written(media: Media) -> None:
    ctx = fake_context()
    _task(ctx, status=TaskStatus.queued)
    ctx.blobs.put_bytes("uploads/ws_1/files/a.mp4", b"UPLOADED")
    with pytest.raises(TaskFailure) as raised:  # only the leading slash is dropped from the path
        ingest(ctx, _payload(f"s3://{ctx.blobs.bucket}/XXuploads/ws_1/files/a.mp4"))
    assert raised.value.code is TaskErrorCode.invalid_source
