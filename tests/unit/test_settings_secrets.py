"""Secret-backed settings: explicit values (local stack, tests) round-trip through dumps and FRAMELANE_* variables,
and a secret named by ARN is read only when its value is used — never while settings load."""

from __future__ import annotations

import pytest

from framelane.config import Settings


def test_explicit_values_round_trip_through_a_dump_and_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(
        redis_url="redis://127.0.0.1:1/0", cursor_secret="c", admin_token="a", assemblyai_api_key="k"
    )
    dumped = settings.model_dump()
    assert {"redis_url", "cursor_secret", "admin_token", "assemblyai_api_key"} <= dumped.keys()
    for name, value in dumped.items():
        if isinstance(value, str):
            monkeypatch.setenv(f"FRAMELANE_{name.upper()}", value)
    again = Settings()
    assert (again.redis_url, again.cursor_secret, again.admin_token, again.assemblyai_api_key) == (
        "redis://127.0.0.1:1/0",
        "c",
        "a",
        "k",
    )
    copied = settings.model_copy(update={"assemblyai_api_key": None, "redis_url": "redis://127.0.0.1:2/0"})
    assert copied.assemblyai_api_key is None and copied.redis_url == "redis://127.0.0.1:2/0"


def test_secrets_are_fetched_on_use_only(monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[str] = []

    def get_secret(arn: str, max_age: int) -> str:
        fetched.append(arn)
        return {"arn:redis": "t/k", "arn:aai": "", "arn:cursor": "s"}[arn]

    monkeypatch.setattr("aws_lambda_powertools.utilities.parameters.get_secret", get_secret)
    settings = Settings(
        redis_host="redis.internal",
        redis_port=6380,
        redis_auth_secret_arn="arn:redis",
        assemblyai_secret_arn="arn:aai",
        cursor_secret_arn="arn:cursor",
    )
    assert fetched == []
    assert settings.redis_url == "rediss://redis.internal:6380/0"  # the token is read per connection
    assert settings.redis_auth_token() == "t/k"
    assert settings.assemblyai_api_key is None  # an empty secret: the offline engine
    assert settings.cursor_secret == "s"
    assert settings.admin_token is None
    assert fetched == ["arn:redis", "arn:aai", "arn:cursor"]
