"""The request rules the API reports in `error.details[].msg`: each limit at its edge, each with its message
(the message is what tells a caller which rule the request broke)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from framelane.models import GazeRedirectRequest, SuperResolutionRequest, format_timestamp, utc_now

SOURCE = "https://cdn.example.com/a.mp4"


def _message(**body: Any) -> str:
    with pytest.raises(ValidationError) as failure:
        GazeRedirectRequest.model_validate({"source_url": SOURCE, **body})
    [error] = failure.value.errors()
    return str(error["msg"])


@pytest.mark.parametrize(
    "url,message",
    [
        ("ftp://cdn.example.com/a.mp4", "URL scheme must be one of http, https, s3"),
        ("https:///a.mp4", "URL has no host"),
        ("https://cdn.example.com:0/a.mp4", "URL port must be 1..65535"),
        ("https://cdn.example.com/a b.mp4", "URL contains whitespace or control characters"),
        ("https://cdn.example.com/a\x7f\x01.mp4", "URL contains whitespace or control characters"),
        ("https://cdn.example.com:99999/a.mp4", "not a valid URL: Port out of range 0-65535"),
    ],
)
def test_source_url_rules_and_messages(url: str, message: str) -> None:
    assert _message(source_url=url) == f"Value error, {message}"


@pytest.mark.parametrize(
    "url", ["http://cdn.example.com/a.mp4", "HTTPS://cdn.example.com:1/a.mp4", "s3://bucket/uploads/a.mp4"]
)
def test_source_url_schemes_and_lowest_port_are_accepted(url: str) -> None:
    assert GazeRedirectRequest(source_url=url).source_url == url


def test_webhook_url_is_http_only() -> None:
    assert _message(webhook_url="s3://bucket/x") == "Value error, URL scheme must be one of http, https"


@pytest.mark.parametrize(
    "metadata,ok",
    [
        ({f"k{i}": i for i in range(50)}, True),
        ({f"k{i}": i for i in range(51)}, False),
        ({"k" * 40: 1}, True),
        ({"k" * 41: 1}, False),
        ({"": 1}, False),
        ({"k": "v" * 500}, True),
        ({"k": "v" * 501}, False),
        ({"k": 10**38 - 1}, True),
        ({"k": 1e-130, "m": -1e-130, "n": 9.99e37}, True),
        ({"k": 1e39}, False),
        ({"k": 1e-131}, False),
        ({"k": True, "m": None}, True),
    ],
)
def test_metadata_limits_at_their_edges(metadata: dict[str, Any], ok: bool) -> None:
    if ok:
        assert GazeRedirectRequest(source_url=SOURCE, metadata=metadata).metadata == metadata
    else:
        with pytest.raises(ValidationError):
            GazeRedirectRequest(source_url=SOURCE, metadata=metadata)


@pytest.mark.parametrize(
    "metadata,message",
    [
        ({f"k{i}": i for i in range(51)}, "metadata has at most 50 keys"),
        ({"k" * 41: 1}, "metadata keys are 1..40 characters"),
        ({"k": "v" * 501}, "metadata string values are at most 500 characters"),
        ({"k": 1e39}, "metadata numbers are under 1e38 in size, and 0 or at least 1e-130 in size"),
    ],
)
def test_metadata_messages(metadata: dict[str, Any], message: str) -> None:
    assert _message(metadata=metadata) == f"Value error, {message}"


def test_options_are_plain_json_values() -> None:
    """Options are stored and sent to workers as JSON: enum members must already be their string values."""
    options = SuperResolutionRequest(source_url=SOURCE, mode="learned", scale=2).options()
    assert options == {"scale": 2.0, "mode": "learned"}
    assert type(options["mode"]) is str
    assert json.loads(json.dumps(options)) == options


@pytest.fixture
def new_york_time() -> Iterator[None]:
    """A machine clock that is not UTC, so local-time mistakes show (the CI machine runs in UTC)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "America/New_York")
        time.tzset()
        yield
    time.tzset()


@pytest.mark.usefixtures("new_york_time")
def test_timestamps_are_utc_whatever_the_machine_clock() -> None:
    assert (
        format_timestamp(datetime(2024, 1, 1, 12, 0, 0, 250_000)) == "2024-01-01T12:00:00.250Z"
    )  # naive: UTC
    assert format_timestamp(datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))) == (
        "2024-01-01T10:00:00.000Z"
    )
    assert (
        format_timestamp(datetime(2024, 7, 1, 23, 59, 59, 999_999, tzinfo=UTC)) == "2024-07-01T23:59:59.999Z"
    )


def test_now_is_timezone_aware_utc() -> None:
    """Stored timestamps compare with aware datetimes (TTLs, retry times): a naive `now` would raise there."""
    assert utc_now().utcoffset() == timedelta(0)
