"""Webhook signatures follow Standard Webhooks: the reference library must verify what Framelane signs."""

from datetime import UTC, datetime

import pytest
import standardwebhooks

from framelane.services.webhook_delivery import sign

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = '{"type":"task.completed","data":{"id":"task_1"}}'


def test_reference_library_verifies_the_signature() -> None:
    timestamp = int(datetime.now(UTC).timestamp())
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(SECRET, "evt_1", timestamp, BODY),
    }
    assert standardwebhooks.Webhook(SECRET).verify(BODY, headers) == {
        "type": "task.completed",
        "data": {"id": "task_1"},
    }


def test_signature_equals_the_reference_one() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    expected = standardwebhooks.Webhook(SECRET).sign("evt_1", when, BODY)
    assert sign(SECRET, "evt_1", int(when.timestamp()), BODY) == expected


@pytest.mark.parametrize(
    "changed",
    [("evt_2", 1_700_000_000, BODY), ("evt_1", 1_700_000_001, BODY), ("evt_1", 1_700_000_000, BODY + " ")],
)
def test_every_signed_part_counts(changed: tuple[str, int, str]) -> None:
    assert sign(SECRET, *changed) != sign(SECRET, "evt_1", 1_700_000_000, BODY)


def test_secret_without_prefix_signs_the_same() -> None:
    """Only the base64 part after `whsec_` is the key (as the reference library reads it)."""
    bare = SECRET.removeprefix("whsec_")
    assert sign(bare, "evt_1", 1_700_000_000, BODY) == sign(SECRET, "evt_1", 1_700_000_000, BODY)
