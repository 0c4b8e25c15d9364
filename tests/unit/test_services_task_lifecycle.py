"""services.tasks beyond the happy paths of test_services_tasks.py: which sources are refused, every branch of an
idempotent create (held, orphaned, failed store), listing filters, and cancel races."""

from __future__ import annotations

import time
from typing import Any

import pytest

from framelane.adapters.dynamodb import ConditionFailed, IdempotencyRecord
from framelane.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
    TaskNotCancellable,
)
from framelane.models import (
    GazeRedirectRequest,
    JobOutput,
    SuperResolutionRequest,
    Task,
    TaskStatus,
    TaskType,
    Workspace,
    utc_now,
)
from framelane.services.context import ServiceContext
from framelane.services.fingerprint import request_fingerprint
from framelane.services.tasks import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    cancel_task,
    create_task,
    get_task,
    hand_off_to_pipeline,
    list_tasks,
)
from tests.unit.broker_fakes import broker, brokered_context
from tests.unit.fakes import fake_context, store, workflows

WS = Workspace(id="ws_1", name="one", created_at=utc_now(), signing_secret="whsec_c2VjcmV0")
REQUEST = GazeRedirectRequest(
    source_url="https://media.example/clip.mp4",
    metadata={"order": "42"},
    webhook_url="https://hooks.example/own",
    intensity=0.5,
)


def _create(ctx: ServiceContext, request: GazeRedirectRequest = REQUEST, key: str | None = None) -> Task:
    created = create_task(ctx, WS, TaskType.gaze_redirect, request, key)
    return store(ctx).tasks[WS.id, created.task.id]


def test_a_new_task_carries_the_request() -> None:
    ctx = fake_context()
    task = _create(ctx, key="k1")
    assert (
        task.id.startswith("task_")
        and task.workspace_id == WS.id
        and task.task_type is TaskType.gaze_redirect
    )
    assert task.status is TaskStatus.ingesting and task.created_at == task.updated_at
    assert (task.source_url, task.webhook_url, task.metadata) == (
        REQUEST.source_url,
        REQUEST.webhook_url,
        {"order": "42"},
    )
    assert task.options == REQUEST.options() and task.options["intensity"] == 0.5
    assert task.idempotency_key == "k1"
    (started,) = workflows(ctx).started
    assert (started.task_id, started.workspace_id, started.task_type, started.source_url) == (
        task.id,
        WS.id,
        TaskType.gaze_redirect,
        REQUEST.source_url,
    )


def test_an_own_upload_is_queued_without_a_host_check() -> None:
    ctx = fake_context()
    upload = GazeRedirectRequest(source_url=f"s3://{ctx.blobs.bucket}/uploads/{WS.id}/files/upl_1")
    task = _create(ctx, upload)
    assert task.status is TaskStatus.queued


@pytest.mark.parametrize(
    "source",
    [
        "s3://other-bucket/uploads/ws_1/files/upl_1",
        "s3://fake-bucket/uploads/ws_10/files/upl_1",
        "s3://fake-bucket/outputs/ws_1/task_1/output.mp4",
        "s3://fake-bucket/XXuploads/ws_1/files/upl_1",  # only leading slashes are dropped from the key
    ],
)
def test_s3_sources_must_be_this_workspaces_uploads(source: str) -> None:
    ctx = fake_context()
    with pytest.raises(InvalidRequest) as raised:
        _create(ctx, GazeRedirectRequest(source_url=source))
    assert str(raised.value) == (
        "s3:// sources must be uploads of this workspace (s3://fake-bucket/uploads/ws_1/…); "
        "create one with POST /v1/uploads"
    )
    assert store(ctx).tasks == {}


@pytest.mark.parametrize(
    ("field", "request_fields"),
    [
        ("source_url", {"source_url": "http://10.0.0.7/clip.mp4"}),
        (
            "webhook_url",
            {"source_url": "https://media.example/a.mp4", "webhook_url": "http://[fd00::1]/hook"},
        ),
    ],
)
def test_blocked_address_literals_are_refused_by_field(field: str, request_fields: dict[str, str]) -> None:
    ctx = fake_context()
    with pytest.raises(InvalidRequest, match=f"^{field}: address"):
        _create(ctx, GazeRedirectRequest(**request_fields))  # type: ignore[arg-type]
    assert store(ctx).tasks == {}


@pytest.mark.parametrize("length", [0, MAX_IDEMPOTENCY_KEY_LENGTH + 1])
def test_idempotency_keys_are_1_to_255_characters(length: int) -> None:
    ctx = fake_context()
    with pytest.raises(InvalidRequest, match=r"1\.\.255"):
        _create(ctx, key="k" * length)
    assert _create(ctx, key="k" * MAX_IDEMPOTENCY_KEY_LENGTH).idempotency_key == "k" * 255
    assert _create(ctx, key="k").idempotency_key == "k"


def test_a_completed_claim_names_the_task_and_expires_after_the_ttl() -> None:
    ctx = fake_context(idempotency_ttl_seconds=1000, idempotency_lock_seconds=30)
    before = int(time.time())
    task = _create(ctx, key="k1")
    record = store(ctx).idempotency[WS.id, "k1"]
    assert record.state == "completed" and record.task_id == task.id
    assert record.fingerprint == request_fingerprint("create_task:gaze_redirect", REQUEST)
    assert before + 1000 <= record.expires_at_epoch <= int(time.time()) + 1000
    assert before + 30 <= record.locked_until <= int(time.time()) + 30


def test_the_same_body_for_another_task_type_is_another_request() -> None:
    ctx = fake_context()
    create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, "k1")
    with pytest.raises(
        IdempotencyKeyReused, match=r"^this Idempotency-Key was used with a different request body$"
    ):
        create_task(ctx, WS, TaskType.remove_background, REQUEST, "k1")


def _held(ctx: ServiceContext, **fields: object) -> None:
    now = int(time.time())
    record = IdempotencyRecord(
        workspace_id=WS.id,
        key="k1",
        state="in_progress",
        fingerprint=request_fingerprint("create_task:gaze_redirect", REQUEST),
        lock_token="other",
        locked_until=now + 60,
        expires_at_epoch=now + 3600,
        task_id="task_held",
    )
    store(ctx).idempotency[WS.id, "k1"] = IdempotencyRecord(**{**record.__dict__, **fields})  # type: ignore[arg-type]


def test_a_key_still_in_progress_is_answered_409() -> None:
    ctx = fake_context()
    _held(ctx)
    with pytest.raises(
        IdempotencyInProgress, match=r"^a request with this Idempotency-Key is still being processed$"
    ):
        _create(ctx, key="k1")
    _held(ctx, state="completed", task_id=None)
    with pytest.raises(IdempotencyInProgress):
        _create(ctx, key="k1")
    assert store(ctx).tasks == {} and workflows(ctx).started == []


def test_replaying_a_key_whose_task_is_gone_is_not_found() -> None:
    ctx = fake_context()
    _held(ctx, state="completed")
    with pytest.raises(NotFound, match="task_held no longer exists"):
        _create(ctx, key="k1")


def test_a_lapsed_claim_of_the_same_body_adopts_its_stored_task() -> None:
    ctx = fake_context()
    orphan = _create(ctx)  # stands for the crashed request's stored task
    workflows(ctx).started.clear()
    _held(ctx, locked_until=0, task_id=orphan.id)
    created = create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, "k1")
    assert created.task.id == orphan.id and not created.replayed and len(store(ctx).tasks) == 1
    assert [p.task_id for p in workflows(ctx).started] == [orphan.id]
    assert store(ctx).idempotency[WS.id, "k1"].task_id == orphan.id


@pytest.mark.parametrize(
    "previous",
    [
        {"locked_until": 0, "fingerprint": "another body"},
        {"locked_until": 0, "task_id": None},
        {"locked_until": 0, "task_id": "task_gone"},
        {"state": "completed", "expires_at_epoch": 0},
    ],
)
def test_a_lapsed_or_expired_claim_without_its_task_makes_a_new_one(previous: dict[str, object]) -> None:
    ctx = fake_context()
    _held(ctx, **previous)
    created = create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, "k1")
    assert created.task.id not in {"task_held", "task_gone"} and len(store(ctx).tasks) == 1


@pytest.mark.parametrize(
    "previous",
    [
        {"locked_until": 0, "fingerprint": "another body"},
        {"state": "completed", "expires_at_epoch": 0},
    ],
)
def test_a_lapsed_claim_of_another_body_or_an_expired_one_never_adopts_its_task(
    previous: dict[str, object],
) -> None:
    ctx = fake_context()
    stored = _create(ctx)  # the task the earlier claim made still exists
    _held(ctx, task_id=stored.id, **previous)
    created = create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, "k1")
    assert created.task.id != stored.id and len(store(ctx).tasks) == 2


def test_a_replay_presents_the_task_with_a_signed_output_link() -> None:
    ctx = fake_context()
    done = _create(ctx).model_copy(
        update={
            "status": TaskStatus.completed,
            "output_key": "outputs/ws_1/t/output.mp4",
            "output": JobOutput(url="s3://b/k"),
        }
    )
    store(ctx).tasks[WS.id, done.id] = done
    _held(ctx, state="completed", task_id=done.id)
    replay = create_task(ctx, WS, TaskType.gaze_redirect, REQUEST, "k1")
    assert replay.replayed and replay.task.output is not None
    assert replay.task.output.url == ctx.blobs.presigned_get(
        "outputs/ws_1/t/output.mp4", expires_in=ctx.settings.output_url_ttl_seconds
    )


def test_a_failed_store_releases_the_claim() -> None:
    ctx = fake_context()

    def put_task(task: Task) -> None:
        raise ConditionFailed("throttled")

    store(ctx).put_task = put_task  # type: ignore[method-assign]
    with pytest.raises(ConditionFailed):
        _create(ctx, key="k1")
    assert store(ctx).idempotency == {}


def test_a_failed_start_with_a_key_lapses_the_lock_and_says_to_retry() -> None:
    ctx = fake_context()
    workflows(ctx).fail_starts = True
    with pytest.raises(ServiceUnavailable, match="could not be started; retry the request"):
        _create(ctx, key="k1")
    record = store(ctx).idempotency[WS.id, "k1"]
    assert record.state == "in_progress" and record.locked_until == 0


def test_a_failed_start_without_a_key_says_why_on_the_task() -> None:
    ctx = fake_context()
    workflows(ctx).fail_starts = True
    with pytest.raises(ServiceUnavailable):
        _create(ctx)
    (task,) = store(ctx).tasks.values()
    assert task.error is not None and task.error.message == "the task could not be started"
    assert task.completed_at is not None


def test_a_task_without_a_type_or_source_is_not_started() -> None:
    ctx = fake_context()
    now = utc_now()
    task = Task(id="task_1", workspace_id=WS.id, status=TaskStatus.queued, created_at=now, updated_at=now)
    hand_off_to_pipeline(ctx, task)
    hand_off_to_pipeline(ctx, task.model_copy(update={"task_type": TaskType.gaze_redirect}))
    hand_off_to_pipeline(ctx, task.model_copy(update={"source_url": "https://media.example/a.mp4"}))
    assert workflows(ctx).started == []


def test_only_task_ids_are_looked_up() -> None:
    ctx = fake_context()
    task = _create(ctx)
    store(ctx).tasks[WS.id, "render_1"] = task
    with pytest.raises(NotFound, match="task render_1 not found"):
        get_task(ctx, WS, "render_1")
    with pytest.raises(NotFound):
        get_task(ctx, WS.model_copy(update={"id": "ws_2"}), task.id)


def test_listing_filters_by_type_and_status_and_binds_the_cursor_to_them() -> None:
    ctx = fake_context()
    gaze = [_create(ctx).id for _ in range(3)]
    upscale = SuperResolutionRequest(source_url="https://media.example/a.mp4")
    create_task(ctx, WS, TaskType.super_resolution, upscale, None)
    page = list_tasks(ctx, WS, task_type=TaskType.gaze_redirect, status=None, limit=2, cursor=None)
    assert {j.task_type for j in page.data} == {TaskType.gaze_redirect} and page.has_more
    assert page.next_cursor is not None
    rest = list_tasks(
        ctx, WS, task_type=TaskType.gaze_redirect, status=None, limit=2, cursor=page.next_cursor
    )
    assert sorted(j.id for j in page.data + rest.data) == sorted(gaze) and rest.next_cursor is None
    for task_type, status in [
        (None, None),
        (TaskType.super_resolution, None),
        (TaskType.gaze_redirect, TaskStatus.queued),
    ]:
        with pytest.raises(InvalidCursor):
            list_tasks(ctx, WS, task_type=task_type, status=status, limit=2, cursor=page.next_cursor)
    ingesting = list_tasks(ctx, WS, task_type=None, status=TaskStatus.ingesting, limit=10, cursor=None)
    assert len(ingesting.data) == 4 and not ingesting.has_more
    assert list_tasks(ctx, WS, task_type=None, status=TaskStatus.completed, limit=10, cursor=None).data == []


def test_the_next_page_starts_after_the_last_task_of_this_filter() -> None:
    ctx = fake_context()
    for _ in range(4):
        _create(ctx)
    asked: list[tuple[str, TaskType | None, TaskStatus | None]] = []
    page_key = store(ctx).task_page_key

    def task_page_key(task: Task, *, task_type: TaskType | None, status: TaskStatus | None) -> dict[str, str]:
        asked.append((task.id, task_type, status))
        return page_key(task, task_type=task_type, status=status)

    store(ctx).task_page_key = task_page_key  # type: ignore[method-assign]
    page = list_tasks(
        ctx, WS, task_type=TaskType.gaze_redirect, status=TaskStatus.ingesting, limit=3, cursor=None
    )
    assert asked == [(page.data[2].id, TaskType.gaze_redirect, TaskStatus.ingesting)]


def test_reads_sign_the_output_link() -> None:
    ctx = fake_context(output_url_ttl_seconds=60)
    task = _create(ctx)
    done = task.model_copy(
        update={
            "status": TaskStatus.completed,
            "output_key": "outputs/ws_1/x/output.mp4",
            "output": JobOutput(url="s3://b/k"),
        }
    )
    store(ctx).tasks[WS.id, task.id] = done
    signed = ctx.blobs.presigned_get("outputs/ws_1/x/output.mp4", expires_in=60)
    fetched = get_task(ctx, WS, task.id).output
    assert fetched is not None and fetched.url == signed
    (listed,) = list_tasks(ctx, WS, task_type=None, status=None, limit=5, cursor=None).data
    assert listed.output is not None and listed.output.url == signed


def test_cancel_flags_the_workers_and_stops_the_execution() -> None:
    ctx = brokered_context()
    task = _create(ctx)
    causes: list[str] = []
    stop = workflows(ctx).stop_task

    def stop_task(task_id: str, cause: str) -> None:
        causes.append(cause)
        stop(task_id, cause)

    workflows(ctx).stop_task = stop_task  # type: ignore[method-assign]
    out = cancel_task(ctx, WS, task.id)
    assert out.status is TaskStatus.cancelled and broker(ctx).cancelled == {task.id}
    assert workflows(ctx).stopped == [task.id] and causes == ["cancelled by the caller"]
    with pytest.raises(TaskNotCancellable, match=f"task {task.id} is already cancelled"):
        cancel_task(ctx, WS, task.id)


def test_a_task_that_ends_while_being_cancelled_stays_as_it_ended() -> None:
    ctx = fake_context()
    task = _create(ctx)
    real = store(ctx).transition_task

    def completes_first(to: Task, changed: set[str], *, from_statuses: set[TaskStatus]) -> Task:
        finished = store(ctx).tasks[WS.id, task.id].model_copy(update={"status": TaskStatus.completed})
        store(ctx).tasks[WS.id, task.id] = finished
        return real(to, changed, from_statuses=from_statuses)

    store(ctx).transition_task = completes_first  # type: ignore[method-assign]
    with pytest.raises(TaskNotCancellable, match="is already completed"):
        cancel_task(ctx, WS, task.id)
    assert workflows(ctx).stopped == [] and store(ctx).tasks[WS.id, task.id].status is TaskStatus.completed


def test_every_claim_carries_its_own_lock_token() -> None:
    """The store tells a taken-over claim from its new holder by the token alone."""
    ctx = fake_context()
    claims: list[IdempotencyRecord] = []
    claim = store(ctx).claim_idempotency_key

    def recording_claim(record: IdempotencyRecord, now: int) -> tuple[Any, Any]:
        claims.append(record)
        return claim(record, now)

    store(ctx).claim_idempotency_key = recording_claim  # type: ignore[method-assign]
    _create(ctx, key="k1")
    _create(ctx, key="k2")
    tokens = [c.lock_token for c in claims]
    assert all(tokens) and tokens[0] != tokens[1]
