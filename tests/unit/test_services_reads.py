"""The small services over the in-memory stores: uploads (presigned PUTs and the options they carry), the S3
trigger's refusals, readiness, source links, transcript formats, time-left estimates, the public view of a task and
one webhook delivery attempt (a fake HTTP client in place of the SSRF-safe one, which tests/integration drive)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from framelane.errors import InvalidRequest, NotFound, SourceNotReady, TranscriptNotReady
from framelane.models import (
    ApiKeyRecord,
    ContentCredentials,
    JobOutput,
    Task,
    TaskStatus,
    TaskType,
    Transcript,
    TranscriptFormat,
    TranscriptWord,
    UploadCreateRequest,
    WebhookDeliveryInput,
    WebhookEndpoint,
    WebhookEvent,
    WebhookPayload,
    Workspace,
    utc_now,
)
from framelane.security.safe_http import FetchError, FetchLimits
from framelane.services import s3_trigger, webhook_delivery
from framelane.services.context import ServiceContext
from framelane.services.eta import WARMUP_SECONDS, Eta
from framelane.services.health import check_health
from framelane.services.s3_trigger import task_from_upload, tasks_from_s3_event
from framelane.services.sources import source_link
from framelane.services.task_state import present
from framelane.services.transcripts import get_transcript
from framelane.services.uploads import create_upload, upload_prefix
from framelane.services.webhook_delivery import deliver
from framelane.transcription.captions import to_srt, to_vtt
from tests.unit.broker_fakes import brokered_context
from tests.unit.fakes import fake_context, store, workflows
from tests.unit.log_capture import record_logs

WS = Workspace(id="ws_1", name="one", created_at=utc_now(), signing_secret="whsec_c2VjcmV0")


def _task(ctx: ServiceContext, **fields: Any) -> Task:
    now = utc_now()
    values: dict[str, Any] = {
        "id": "task_1",
        "workspace_id": WS.id,
        "status": TaskStatus.completed,
        "created_at": now,
        "updated_at": now,
        "task_type": TaskType.gaze_redirect,
        **fields,
    }
    task = Task(**values)
    store(ctx).tasks[WS.id, task.id] = task
    return task


# uploads


def test_a_plain_upload_goes_to_files_and_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = fake_context(upload_url_ttl_seconds=900)
    bound: list[str | None] = []
    presign = ctx.blobs.presigned_put

    def presigned_put(key: str, *, expires_in: int, content_type: str | None, metadata: Any = None) -> str:
        bound.append(content_type)
        return presign(key, expires_in=expires_in, content_type=content_type, metadata=metadata)

    monkeypatch.setattr(ctx.blobs, "presigned_put", presigned_put)
    before = utc_now()
    out = create_upload(ctx, WS, UploadCreateRequest(content_type="video/mp4"))
    key = out.source_url.removeprefix(f"s3://{ctx.blobs.bucket}/")
    assert key.startswith("uploads/ws_1/files/upl_") and upload_prefix("ws_1") == "uploads/ws_1/"
    assert out.upload_url == ctx.blobs.presigned_put(key, expires_in=900, content_type="video/mp4")
    assert out.headers == {"Content-Type": "video/mp4"}
    assert before + timedelta(seconds=900) <= out.expires_at <= utc_now() + timedelta(seconds=900)
    assert create_upload(ctx, WS, UploadCreateRequest()).headers == {}
    assert bound == ["video/mp4", "video/mp4", None]  # the PUT is bound to the type it will send


def test_a_task_upload_carries_its_options_as_signed_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = fake_context()
    seen: list[dict[str, str] | None] = []
    presign = ctx.blobs.presigned_put

    def presigned_put(
        key: str, *, expires_in: int, content_type: str | None, metadata: dict[str, str] | None = None
    ) -> str:
        seen.append(metadata)
        return presign(key, expires_in=expires_in, content_type=content_type)

    monkeypatch.setattr(ctx.blobs, "presigned_put", presigned_put)
    request = UploadCreateRequest(
        task_type=TaskType.super_resolution,
        options={"scale": 3},
        metadata={"project.id": "p-1"},
        webhook_url="https://hooks.example/h",
    )
    out = create_upload(ctx, WS, request)
    assert "/uploads/ws_1/super-resolution/upl_" in out.source_url
    (metadata,) = seen
    assert metadata is not None
    assert json.loads(metadata["scale"]) == 3 and json.loads(metadata["meta-project.id"]) == "p-1"
    assert json.loads(metadata["webhook_url"]) == "https://hooks.example/h"
    assert "source_url" not in metadata and "metadata" not in metadata
    assert out.headers["x-amz-meta-scale"] == metadata["scale"]
    assert {k.removeprefix("x-amz-meta-") for k in out.headers} == set(metadata)


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        (
            {"metadata": {"Project": "p"}},
            "metadata name 'Project': tasks started by an upload carry metadata as S3 object metadata, whose names "
            "are lower-case ASCII letters, digits, '.', '_' and '-'",
        ),
        ({"metadata": {"a b": "p"}}, "metadata name 'a b'"),
        ({"options": {"scale": 9}}, "options are not valid for super_resolution: "),
        ({"options": {"nope": 1}}, "options are not valid for super_resolution: "),
        (
            {"metadata": {f"k{i}": "v" * 150 for i in range(12)}},
            "options and metadata are too large for an upload",
        ),
    ],
)
def test_invalid_task_uploads_are_refused_now(request_fields: dict[str, Any], message: str) -> None:
    request = UploadCreateRequest(task_type=TaskType.super_resolution, **request_fields)
    with pytest.raises(InvalidRequest) as raised:
        create_upload(fake_context(), WS, request)
    assert str(raised.value).startswith(message)


def test_metadata_up_to_1800_characters_of_json_is_accepted() -> None:
    """Four 426-character values with the default intensity make exactly 1800 characters of JSON; 427 make 1804."""
    at_limit = UploadCreateRequest(
        task_type=TaskType.gaze_redirect, metadata={f"k{i}": "v" * 426 for i in range(4)}
    )
    create_upload(fake_context(), WS, at_limit)
    for over in (
        UploadCreateRequest(
            task_type=TaskType.gaze_redirect, metadata={f"k{i}": "v" * 427 for i in range(4)}
        ),
        UploadCreateRequest(  # one character more than the limit: 1801
            task_type=TaskType.gaze_redirect,
            metadata={f"k{i}": "v" * (427 if i == 0 else 426) for i in range(4)},
        ),
    ):
        with pytest.raises(InvalidRequest, match="too large"):
            create_upload(fake_context(), WS, over)


# the S3 trigger


def _workspace(ctx: ServiceContext) -> None:
    store(ctx).put_workspace(
        WS, ApiKeyRecord(key_hash="h", workspace_id=WS.id, prefix="fl_", created_at=utc_now())
    )


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        ("other-bucket", "uploads/ws_1/gaze-redirect/a.mp4"),
        ("fake-bucket", "uploads/ws_1/a.mp4"),
        ("fake-bucket", "sources/ws_1/gaze-redirect/a.mp4"),
        ("fake-bucket", "uploads/ws_1/unknown-type/a.mp4"),
        ("fake-bucket", "uploads/ws_9/gaze-redirect/a.mp4"),
    ],
)
def test_objects_outside_a_known_workspaces_task_folders_start_nothing(
    bucket: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = fake_context()
    _workspace(ctx)
    logged = record_logs(monkeypatch, s3_trigger)
    assert task_from_upload(ctx, bucket, key, "seq") is None and store(ctx).tasks == {}
    unknown = [("warning", "upload for unknown workspace", {"key": key})]
    assert logged == (unknown if "ws_9" in key else [])


def test_metadata_values_are_json_or_plain_text_and_invalid_options_start_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = fake_context()
    _workspace(ctx)
    key = "uploads/ws_1/gaze-redirect/a.mp4"
    ctx.blobs.metadata[key] = {"meta-note": "plain text", "intensity": "0.25"}  # type: ignore[attr-defined]
    task = task_from_upload(ctx, "fake-bucket", key, "seq-1")
    assert task is not None and task.metadata == {"note": "plain text"} and task.options["intensity"] == 0.25
    idempotency = store(ctx).idempotency[WS.id, "s3-" + hashlib.sha256(f"{key}:seq-1".encode()).hexdigest()]
    assert idempotency.task_id == task.id
    ctx.blobs.metadata[key] = {"intensity": "7"}  # type: ignore[attr-defined]
    logged = record_logs(monkeypatch, s3_trigger)
    assert task_from_upload(ctx, "fake-bucket", key, "seq-2") is None
    ((level, message, extra),) = logged
    assert (level, message, extra is not None and extra["key"]) == (
        "warning",
        "upload not turned into a task",
        key,
    )
    assert extra is not None and "intensity" in extra["reason"]


def test_a_new_object_version_is_a_new_task_and_the_etag_stands_in_for_the_sequencer() -> None:
    ctx = fake_context()
    _workspace(ctx)
    record = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "fake-bucket"}, "object": {}}}

    def event(**obj: str) -> dict[str, Any]:
        return {
            "Records": [
                {**record, "s3": {**record["s3"], "object": {"key": "uploads/ws_1/gaze-redirect/a", **obj}}}
            ]
        }

    removed = {"Records": [{**event(sequencer="00")["Records"][0], "eventName": "ObjectRemoved:Delete"}]}
    assert tasks_from_s3_event(
        ctx, {"Records": removed["Records"] + event(sequencer="00")["Records"]}
    )  # goes on
    first = tasks_from_s3_event(ctx, event(sequencer="01"))
    second = tasks_from_s3_event(ctx, event(sequencer="02"))
    by_etag = tasks_from_s3_event(ctx, event(eTag="abc"))
    assert len({j.id for j in first + second + by_etag}) == 3
    assert tasks_from_s3_event(ctx, event(eTag="abc"))[0].id == by_etag[0].id


# health, sources, transcripts


def test_health_reports_each_store() -> None:
    ctx = brokered_context()
    ctx.broker.ping = lambda: None  # type: ignore[union-attr]
    health = check_health(ctx)
    assert (health.status, health.checks) == ("ok", {"dynamodb": "ok", "s3": "ok", "redis": "ok"})

    def down() -> None:
        raise ConnectionError("refused")

    ctx.blobs.ping = down  # type: ignore[method-assign]
    health = check_health(ctx)
    assert health.status == "degraded"
    assert health.checks == {"dynamodb": "ok", "s3": "error: ConnectionError", "redis": "ok"}
    assert check_health(fake_context()).checks == {"dynamodb": "ok", "s3": "ok"}


def test_a_source_link_is_signed_for_the_output_ttl() -> None:
    ctx = fake_context(output_url_ttl_seconds=120)
    _task(ctx, source_key="sources/ws_1/task_1")
    before = utc_now()
    link = source_link(ctx, WS, "task_1")
    assert link.url == ctx.blobs.presigned_get("sources/ws_1/task_1", expires_in=120)
    assert before + timedelta(seconds=120) <= link.expires_at <= utc_now() + timedelta(seconds=120)


def test_source_links_of_unknown_or_unready_tasks() -> None:
    ctx = fake_context()
    task = _task(ctx)
    store(ctx).tasks[WS.id, "render_1"] = task.model_copy(update={"source_key": "k"})
    with pytest.raises(NotFound, match="render_1"):
        source_link(ctx, WS, "render_1")
    with pytest.raises(SourceNotReady, match="task_1 has no ingested source yet"):
        source_link(ctx, WS, "task_1")


def _transcript_task(ctx: ServiceContext, **fields: Any) -> Transcript:
    transcript = Transcript(
        task_id="task_1",
        engine="faster-whisper",
        audio_duration=2,
        text="hello there",
        words=[
            TranscriptWord(text="hello", start=0, end=0.5, confidence=1),
            TranscriptWord(text="there", start=0.6, end=1.2, confidence=1),
        ],
    )
    ctx.blobs.put_bytes("outputs/ws_1/task_1/transcript.json", transcript.model_dump_json().encode())
    _task(ctx, task_type=TaskType.transcribe, output_key="outputs/ws_1/task_1/transcript.json", **fields)
    return transcript


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        (TranscriptFormat.json, "application/json"),
        (TranscriptFormat.text, "text/plain; charset=utf-8"),
        (TranscriptFormat.srt, "application/x-subrip; charset=utf-8"),
        (TranscriptFormat.vtt, "text/vtt; charset=utf-8"),
    ],
)
def test_a_transcript_in_each_format(fmt: TranscriptFormat, media_type: str) -> None:
    ctx = fake_context()
    transcript = _transcript_task(ctx)
    expected = {
        TranscriptFormat.json: transcript.model_dump_json(),
        TranscriptFormat.text: "hello there",
        TranscriptFormat.srt: to_srt(transcript, 5),
        TranscriptFormat.vtt: to_vtt(transcript, 5),
    }[fmt]
    assert get_transcript(ctx, WS, "task_1", fmt, 5) == (expected, media_type)
    if fmt in {TranscriptFormat.srt, TranscriptFormat.vtt}:
        assert expected != {TranscriptFormat.srt: to_srt, TranscriptFormat.vtt: to_vtt}[fmt](transcript, 42)


def test_transcripts_of_other_tasks_or_unfinished_ones_are_refused() -> None:
    ctx = fake_context()
    _task(ctx)  # a render
    with pytest.raises(NotFound, match="transcribe task task_1 not found"):
        get_transcript(ctx, WS, "task_1", TranscriptFormat.json, 42)
    _transcript_task(ctx)
    store(ctx).tasks[WS.id, "render_1"] = store(ctx).tasks[WS.id, "task_1"]
    with pytest.raises(NotFound, match="transcribe task render_1 not found"):
        get_transcript(ctx, WS, "render_1", TranscriptFormat.json, 42)
    _transcript_task(ctx, status=TaskStatus.processing)
    with pytest.raises(TranscriptNotReady, match="task task_1 is processing"):
        get_transcript(ctx, WS, "task_1", TranscriptFormat.json, 42)
    _task(ctx, task_type=TaskType.transcribe, output_key=None)
    with pytest.raises(TranscriptNotReady):
        get_transcript(ctx, WS, "task_1", TranscriptFormat.json, 42)


# time left


def test_no_estimate_before_the_warm_up_then_the_measured_rate() -> None:
    now = [0.0]
    eta = Eta(clock=lambda: now[0])
    assert eta.update(10, 110) is None  # the clock starts here
    now[0] = WARMUP_SECONDS - 0.01
    assert eta.update(20, 110) is None
    now[0] = 2.0
    assert eta.update(30, 110) == 8  # 20 frames in 2 s, 80 left
    now[0] = 2.5
    assert eta.update(31, 110) == 10  # the rate over the whole span: ceil(79 × 2.5 / 21) = ceil(9.40…)
    assert eta.update(10, 110) is None  # no progress since the start: no rate
    assert eta.update(120, 110) == 0
    assert WARMUP_SECONDS == 1.0


def test_exactly_the_warm_up_gives_an_estimate() -> None:
    now = [5.0]
    eta = Eta(clock=lambda: now[0])
    eta.update(0, 10)
    now[0] = 6.0
    assert eta.update(5, 10) == 1


# the public view


def test_present_signs_the_output_and_a_sidecar_afresh() -> None:
    ctx = fake_context(output_url_ttl_seconds=30)
    sidecar = f"s3://{ctx.blobs.bucket}/outputs/ws_1/task_1/output.webm.c2pa"
    task = _task(
        ctx,
        output_key="outputs/ws_1/task_1/output.webm",
        output=JobOutput(
            url="stale",
            width=4,
            content_credentials=ContentCredentials(format="sidecar", sidecar_url=sidecar),
        ),
        callback_secret="never shown",
    )
    out = present(ctx, task)
    assert out.output is not None and out.output.width == 4
    assert out.output.url == ctx.blobs.presigned_get("outputs/ws_1/task_1/output.webm", expires_in=30)
    assert out.output.content_credentials is not None
    assert out.output.content_credentials.sidecar_url == ctx.blobs.presigned_get(
        "outputs/ws_1/task_1/output.webm.c2pa", expires_in=30
    )
    assert "callback_secret" not in out.model_dump()
    plain = present(ctx, task.model_copy(update={"output": JobOutput(url="stale")}))
    assert plain.output is not None and plain.output.content_credentials is None
    unkeyed = present(ctx, task.model_copy(update={"output_key": None}))
    assert unkeyed.output is not None and unkeyed.output.url == "stale"


# one delivery attempt


@dataclass
class FakeHttp:
    status: int | None = 200
    made: list[FetchLimits] = field(default_factory=list)
    policies: list[Any] = field(default_factory=list)
    sent: list[tuple[str, str, bytes, dict[str, str]]] = field(default_factory=list)

    def __call__(self, policy: Any, limits: FetchLimits) -> FakeHttp:
        self.made.append(limits)
        self.policies.append(policy)
        return self

    @contextmanager
    def request(self, method: str, url: str, *, body: bytes, headers: dict[str, str]) -> Iterator[Any]:
        self.sent.append((method, url, body, headers))
        if self.status is None:
            raise FetchError("connection refused")
        yield type("Response", (), {"status": self.status})()


@pytest.fixture
def http(monkeypatch: pytest.MonkeyPatch) -> FakeHttp:
    fake = FakeHttp()
    monkeypatch.setattr(webhook_delivery, "SafeHttpClient", fake)
    return fake


def _delivery(
    ctx: ServiceContext, endpoint_id: str | None = "wh_a", attempt: int = 1, body: str | None = None
) -> WebhookDeliveryInput:
    if endpoint_id is not None:
        store(ctx).put_webhook_endpoint(
            WebhookEndpoint(
                id=endpoint_id,
                workspace_id=WS.id,
                url="https://hooks.example/a",
                events=[WebhookEvent.task_completed],
                secret="whsec_ZW5kcG9pbnQ=",
                created_at=utc_now(),
            )
        )
    store(ctx).workspaces[WS.id] = WS
    if body is None:
        task = _task(ctx)
        body = WebhookPayload(
            type=WebhookEvent.task_completed, id="evt_1", created_at=utc_now(), data=present(ctx, task)
        ).model_dump_json()
    return WebhookDeliveryInput(
        workspace_id=WS.id,
        endpoint_id=endpoint_id,
        url="https://hooks.example/a",
        event_id="evt_1",
        body=body,
        attempt=attempt,
    )


def _verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body.decode()}".encode()
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return headers["webhook-signature"] == expected


def test_a_delivered_attempt_is_signed_with_the_endpoints_secret_and_recorded(http: FakeHttp) -> None:
    ctx = fake_context(fetch_connect_timeout=2, webhook_timeout=7)
    delivery = _delivery(ctx)
    result = deliver(ctx, delivery)
    assert (result.delivered, result.attempt) == (True, 1)
    assert http.made == [FetchLimits(2, 7, max_redirects=0)]
    ((method, url, body, headers),) = http.sent
    assert (method, url, body) == ("POST", "https://hooks.example/a", delivery.body.encode())
    assert headers["Content-Type"] == "application/json" and headers["webhook-id"] == "evt_1"
    assert _verify("whsec_ZW5kcG9pbnQ=", headers, body)
    assert http.policies == [ctx.outbound]  # the SSRF guard applies to every delivery
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 300  # receivers refuse stale timestamps
    (attempt,) = store(ctx).attempts
    assert (attempt.endpoint_id, attempt.attempt, attempt.status_code, attempt.error, attempt.delivered) == (
        "wh_a",
        1,
        200,
        None,
        True,
    )


def test_a_per_request_webhook_is_signed_with_the_workspaces_secret(http: FakeHttp) -> None:
    ctx = fake_context()
    assert deliver(ctx, _delivery(ctx, endpoint_id=None)).delivered
    ((_, _, body, headers),) = http.sent
    assert _verify(WS.signing_secret, headers, body)
    delivery = _delivery(ctx, endpoint_id=None)
    del store(ctx).workspaces[WS.id]
    gone = deliver(ctx, delivery)
    assert (gone.delivered, gone.retry_in_seconds, len(http.sent)) == (False, None, 1)


@pytest.mark.parametrize(
    ("status", "attempt", "retry_in", "next_attempt"),
    [(500, 1, 5, 2), (None, 2, 60, 3), (299, 1, None, 1), (300, 2, 60, 3), (199, 3, None, 3)],
)
def test_failed_attempts_are_retried_on_the_schedule(
    http: FakeHttp, status: int | None, attempt: int, retry_in: int | None, next_attempt: int
) -> None:
    ctx = fake_context(webhook_retry_schedule="5,60")
    http.status = status
    result = deliver(ctx, _delivery(ctx, attempt=attempt))
    if status == 299:
        assert result.delivered
        return
    assert not result.delivered and result.retry_in_seconds == retry_in and result.attempt == next_attempt
    (recorded,) = store(ctx).attempts
    assert recorded.status_code == status and recorded.error == (None if status else "connection refused")
    assert not store(ctx).endpoints[WS.id, "wh_a"].disabled  # only a 410 disables an endpoint


def test_a_gone_endpoint_is_disabled_and_not_retried(http: FakeHttp) -> None:
    ctx = fake_context()
    http.status = 410
    result = deliver(ctx, _delivery(ctx))
    assert (result.delivered, result.retry_in_seconds) == (False, None)
    assert store(ctx).endpoints[WS.id, "wh_a"].disabled


def test_a_gone_per_request_url_disables_nothing(http: FakeHttp) -> None:
    ctx = fake_context()
    http.status = 410
    deliver(ctx, _delivery(ctx, endpoint_id=None))
    store(ctx).put_webhook_endpoint(
        WebhookEndpoint(
            id="wh_b",
            workspace_id=WS.id,
            url="https://x.example",
            events=[WebhookEvent.task_completed],
            secret="whsec_x",
            created_at=utc_now(),
        )
    )
    assert not any(e.disabled for e in store(ctx).endpoints.values())


def test_every_attempt_signs_the_output_link_afresh(http: FakeHttp) -> None:
    ctx = fake_context(output_url_ttl_seconds=99)
    task = _task(ctx, output_key="outputs/ws_1/task_1/output.mp4", output=JobOutput(url="signed-long-ago"))
    stale = WebhookPayload(
        type=WebhookEvent.task_completed, id="evt_1", created_at=utc_now(), data=task.to_out()
    )
    deliver(ctx, _delivery(ctx, body=stale.model_dump_json()))
    sent = json.loads(http.sent[0][2])
    assert sent["data"]["output"]["url"] == ctx.blobs.presigned_get(
        "outputs/ws_1/task_1/output.mp4", expires_in=99
    )
    assert sent["id"] == "evt_1" and sent["type"] == "task.completed"


def test_bodies_without_an_output_or_task_are_sent_as_they_are(http: FakeHttp) -> None:
    ctx = fake_context()
    failed = _task(ctx, status=TaskStatus.failed)
    no_output = WebhookPayload(
        type=WebhookEvent.task_failed, id="evt_1", created_at=utc_now(), data=failed.to_out()
    ).model_dump_json()
    deliver(ctx, _delivery(ctx, body=no_output))
    with_output = WebhookPayload(
        type=WebhookEvent.task_completed,
        id="evt_1",
        created_at=utc_now(),
        data=failed.model_copy(update={"id": "task_gone", "output": JobOutput(url="u")}).to_out(),
    ).model_dump_json()
    deliver(ctx, _delivery(ctx, body=with_output))
    unsigned = failed.model_copy(update={"output": JobOutput(url="kept")})
    store(ctx).tasks[WS.id, "task_1"] = unsigned
    kept = WebhookPayload(
        type=WebhookEvent.task_completed, id="evt_1", created_at=utc_now(), data=unsigned.to_out()
    ).model_dump_json()
    deliver(ctx, _delivery(ctx, body=kept))
    assert [sent[2].decode() for sent in http.sent] == [no_output, with_output, kept]
    assert workflows(ctx).started == []
