"""The decisions of services.ingest that need no media: which sources are refused, and before what work."""

from __future__ import annotations

import pytest

from framelane.errors import TaskCancelled, TaskFailure
from framelane.models import (
    MediaInfo,
    Task,
    TaskErrorCode,
    TaskExecutionInput,
    TaskStatus,
    TaskType,
    utc_now,
)
from framelane.services.ingest import check_output_size, ingest
from tests.unit.fakes import FakeBlobs, fake_context, store

WS = "ws_1"


def _task(ctx_status: TaskStatus = TaskStatus.queued) -> Task:
    now = utc_now()
    return Task(
        id="task_1",
        workspace_id=WS,
        status=ctx_status,
        created_at=now,
        updated_at=now,
        task_type=TaskType.gaze_redirect,
    )


def _payload(source_url: str) -> TaskExecutionInput:
    return TaskExecutionInput(
        task_id="task_1", workspace_id=WS, task_type=TaskType.gaze_redirect, source_url=source_url
    )


class NoDownloads(FakeBlobs):
    def download_file(self, key: str, path: str) -> None:
        raise AssertionError(f"{key} was downloaded")


def test_a_cancelled_task_is_a_signal_not_a_failure() -> None:
    ctx = fake_context()
    store(ctx).put_task(_task(TaskStatus.cancelled))
    with pytest.raises(TaskCancelled):
        ingest(ctx, _payload("https://media.example/a.mp4"))


@pytest.mark.parametrize(
    ("key", "size", "code"),
    [
        ("uploads/ws_2/u_1/a.mp4", 10, TaskErrorCode.invalid_source),  # another workspace's upload
        ("uploads/ws_1/u_1/missing.mp4", None, TaskErrorCode.invalid_source),
        ("uploads/ws_1/u_1/big.mp4", 1001, TaskErrorCode.source_too_large),
    ],
)
def test_uploads_are_refused_before_any_download(key: str, size: int | None, code: TaskErrorCode) -> None:
    ctx = fake_context(max_source_bytes=1000)
    blobs = NoDownloads(ctx.blobs.bucket)
    object.__setattr__(ctx, "blobs", blobs)
    if size is not None:
        blobs.put_bytes(key, b"x" * size)
    store(ctx).put_task(_task())
    with pytest.raises(TaskFailure) as failure:
        ingest(ctx, _payload(f"s3://{blobs.bucket}/{key}"))
    assert failure.value.code is code


def _media(width: int, height: int) -> MediaInfo:
    return MediaInfo(duration=1.0, width=width, height=height, has_video=True, has_audio=False, size_bytes=1)


@pytest.mark.parametrize(
    ("scale", "width", "height", "refused"),
    [
        (2, 1920, 1080, False),  # exactly 4K
        (2, 1080, 1920, False),  # portrait 4K
        (4, 1920, 1080, True),
        (2, 1921, 1080, True),
        (2, 2000, 100, True),  # long side over 3840
    ],
)
def test_output_size_cap(scale: int, width: int, height: int, refused: bool) -> None:
    media = _media(width, height)
    if refused:
        with pytest.raises(TaskFailure) as failure:
            check_output_size(TaskType.super_resolution, {"scale": scale}, media)
        assert failure.value.code is TaskErrorCode.source_too_large
    else:
        check_output_size(TaskType.super_resolution, {"scale": scale}, media)
    check_output_size(TaskType.gaze_redirect, {}, _media(7680, 4320))  # only upscales are capped
