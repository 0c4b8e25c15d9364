import json
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from framelane.models import (
    GazeRedirectRequest,
    JobOut,
    RemoveBackgroundRequest,
    SuperResolutionRequest,
    Task,
    TaskStatus,
    TaskType,
    TranscribeRequest,
    WebhookEndpointCreate,
    format_timestamp,
)

SOURCE = "https://cdn.example.com/presenter.mp4"


def test_seed_example_parses_and_keeps_values() -> None:
    body = GazeRedirectRequest.model_validate(
        {
            "source_url": SOURCE,
            "metadata": {"project_id": "proj_123"},
            "webhook_url": "https://app.example.com/hooks/framelane",
            "intensity": 0.8,
        }
    )
    assert body.intensity == 0.8
    assert body.options() == {"intensity": 0.8}


@pytest.mark.parametrize("length,ok", [(2083, True), (2084, False)])
def test_source_url_length_limit(length: int, ok: bool) -> None:
    url = "https://cdn.example.com/" + "a" * (length - len("https://cdn.example.com/"))
    assert len(url) == length
    if ok:
        assert GazeRedirectRequest(source_url=url).source_url == url
    else:
        with pytest.raises(ValidationError):
            GazeRedirectRequest(source_url=url)


@pytest.mark.parametrize(
    "url", ["", "ftp://x/y.mp4", "file:///etc/passwd", "https://", "not a url", "http://a b/"]
)
def test_source_url_rejects_non_http_or_malformed(url: str) -> None:
    with pytest.raises(ValidationError):
        GazeRedirectRequest(source_url=url)


def test_webhook_url_rules() -> None:
    assert GazeRedirectRequest(source_url=SOURCE, webhook_url="http://h.example/x").webhook_url
    for bad in ["", "s3://bucket/key", "https://" + "a" * 2080]:
        with pytest.raises(ValidationError):
            GazeRedirectRequest(source_url=SOURCE, webhook_url=bad)


@pytest.mark.parametrize("value,ok", [(0, True), (1, True), (0.5, True), (-0.01, False), (1.01, False)])
def test_intensity_range(value: float, ok: bool) -> None:
    if ok:
        assert GazeRedirectRequest(source_url=SOURCE, intensity=value).intensity == value
    else:
        with pytest.raises(ValidationError):
            GazeRedirectRequest(source_url=SOURCE, intensity=value)


def test_defaults_match_the_docs() -> None:
    assert GazeRedirectRequest(source_url=SOURCE).intensity == 1
    assert SuperResolutionRequest(source_url=SOURCE).scale == 2
    assert RemoveBackgroundRequest(source_url=SOURCE).output_format == "webm"
    transcribe = TranscribeRequest(source_url=SOURCE)
    assert (transcribe.language_code, transcribe.speaker_labels, transcribe.analysis) == (None, False, [])


@pytest.mark.parametrize("scale,ok", [(1, True), (4, True), (2.5, True), (0.99, False), (4.01, False)])
def test_scale_range(scale: float, ok: bool) -> None:
    if ok:
        SuperResolutionRequest(source_url=SOURCE, scale=scale)
    else:
        with pytest.raises(ValidationError):
            SuperResolutionRequest(source_url=SOURCE, scale=scale)


def test_enums_are_closed() -> None:
    with pytest.raises(ValidationError):
        RemoveBackgroundRequest(source_url=SOURCE, output_format="gif")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TranscribeRequest(source_url=SOURCE, analysis=["translation"])  # type: ignore[list-item]
    assert {t.value for t in TaskType} == {
        "remove_background",
        "gaze_redirect",
        "super_resolution",
        "transcribe",
    }
    assert [s.value for s in TaskStatus] == [
        "ingesting",
        "queued",
        "processing",
        "completed",
        "failed",
        "cancelled",
    ]


def test_unknown_fields_and_bad_metadata_are_rejected() -> None:
    with pytest.raises(ValidationError):
        GazeRedirectRequest.model_validate({"source_url": SOURCE, "intensty": 0.5})
    with pytest.raises(ValidationError):
        GazeRedirectRequest.model_validate({"source_url": SOURCE, "metadata": {"nested": {"a": 1}}})
    with pytest.raises(ValidationError):
        GazeRedirectRequest.model_validate(
            {"source_url": SOURCE, "metadata": {f"k{i}": i for i in range(51)}}
        )


def test_webhook_endpoint_events_enum() -> None:
    assert WebhookEndpointCreate(url="https://h.example/x").events == ["task.completed", "task.failed"]
    with pytest.raises(ValidationError):
        WebhookEndpointCreate(url="https://h.example/x", events=["task.started"])  # type: ignore[list-item]


def test_task_out_has_every_seed_field_and_z_timestamps() -> None:
    now = datetime(2023, 11, 7, 5, 31, 56, 123000, tzinfo=UTC)
    task = Task(
        id="task_01J8QR2K5VKDGN2T4FBM3CZYX7",
        workspace_id="ws_01J8QR2K5VKDGN2T4FBM3CZYX8",
        status=TaskStatus.queued,
        created_at=now,
        updated_at=now,
        task_type=TaskType.gaze_redirect,
        webhook_url="https://app.example.com/hooks",
    )
    out = task.to_out().model_dump(mode="json")
    seed_fields = {
        "id",
        "kind",
        "workspace_id",
        "status",
        "created_at",
        "updated_at",
        "task_type",
        "progress_percent",
        "progress_stage",
        "output",
        "error",
        "metadata",
        "completed_at",
    }
    assert seed_fields <= out.keys()
    assert "webhook_url" not in out and "idempotency_key" not in out
    assert out["created_at"] == "2023-11-07T05:31:56.123Z"
    assert out["kind"] == "task" and out["progress_percent"] == 0


def test_progress_percent_bounds() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValidationError):
        JobOut(
            id="task_x",
            workspace_id="ws_x",
            status=TaskStatus.processing,
            created_at=now,
            updated_at=now,
            progress_percent=101,
        )


def test_format_timestamp_converts_to_utc() -> None:
    from datetime import timedelta, timezone

    local = datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(local) == "2024-01-01T10:00:00.000Z"


@pytest.mark.parametrize(
    "value",
    [10**38, -(10**40), 1e300, -1e126, 1e-140, float("nan"), float("inf")],
)
def test_metadata_numbers_must_fit_the_store(value: float) -> None:
    """Found by the OpenAPI fuzz run: numbers DynamoDB cannot hold were accepted and then broke the write."""
    with pytest.raises(ValidationError):
        GazeRedirectRequest.model_validate({"source_url": SOURCE, "metadata": {"n": value}})


def test_metadata_numbers_in_range_are_kept() -> None:
    body = GazeRedirectRequest.model_validate(
        {"source_url": SOURCE, "metadata": {"a": 10**37, "b": 1.5e-10, "c": 0.0}}
    )
    assert body.metadata == {"a": 10**37, "b": 1.5e-10, "c": 0.0}


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (GazeRedirectRequest, "intensity", "false"),
        (GazeRedirectRequest, "intensity", "true"),
        (GazeRedirectRequest, "intensity", '"0.5"'),
        (SuperResolutionRequest, "scale", "true"),
        (SuperResolutionRequest, "scale", '"2"'),
        (TranscribeRequest, "speaker_labels", "0"),
        (TranscribeRequest, "speaker_labels", '"true"'),
    ],
)
def test_numbers_and_booleans_are_strict(model: type[BaseModel], field: str, value: str) -> None:
    """Found by the OpenAPI fuzz run: `"intensity": false` was accepted as 0.0, `"speaker_labels": 0` as false."""
    with pytest.raises(ValidationError):
        model.model_validate_json(f'{{"source_url": "{SOURCE}", "{field}": {value}}}')


def test_integral_numbers_are_numbers() -> None:
    body = SuperResolutionRequest.model_validate_json(f'{{"source_url": "{SOURCE}", "scale": 3}}')
    assert body.scale == 3.0


@pytest.mark.parametrize(
    "metadata",
    [
        {"k" * 40: 1},
        {"k" * 41: 1},
        {"": 1},
        {f"k{n}": n for n in range(50)},
        {f"k{n}": n for n in range(51)},
        {"s": "x" * 500},
        {"s": "x" * 501},
        {"n": 0},
        {"n": -0.0},
        {"n": 1e-130},
        {"n": -1e-130},
        {"n": 9e-131},
        {"n": 10**38 - 1},
        {"n": -(10**38 - 1)},
        {"n": 10**38},
        {"n": 1e38},
        {"n": 1.5e38},
        {"n": 1e125},
        {"n": True},
        {"n": None},
    ],
)
def test_metadata_schema_states_exactly_what_is_accepted(metadata: dict[str, Any]) -> None:
    """Found by the OpenAPI fuzz run: the key length and number rules were checked but not in the schema, and an
    integer's limit depended on its JSON spelling (`1.5e38` passed, `150000…0` did not)."""
    schema = GazeRedirectRequest.model_json_schema()
    document = {"source_url": SOURCE, "metadata": metadata}
    by_schema = Draft202012Validator(schema).is_valid(document)
    try:
        GazeRedirectRequest.model_validate_json(json.dumps(document))
        by_model = True
    except ValidationError:
        by_model = False
    assert by_schema == by_model


def test_unique_items_are_enforced_not_just_documented() -> None:
    """Found by the OpenAPI fuzz run: duplicate events were accepted (and silently merged)."""
    with pytest.raises(ValidationError, match="unique"):
        WebhookEndpointCreate.model_validate({"url": SOURCE, "events": ["task.failed", "task.failed"]})
    with pytest.raises(ValidationError, match="unique"):
        TranscribeRequest.model_validate({"source_url": SOURCE, "analysis": ["chapters", "chapters"]})
    schema = WebhookEndpointCreate.model_json_schema()
    assert schema["properties"]["events"]["uniqueItems"] is True
