import hashlib

from framelane.models import GazeRedirectRequest, SuperResolutionRequest
from framelane.services.fingerprint import request_fingerprint

SOURCE = "https://cdn.example.com/a.mp4"


def test_same_logical_request_same_fingerprint() -> None:
    explicit = GazeRedirectRequest.model_validate({"source_url": SOURCE, "intensity": 1, "metadata": {}})
    implicit = GazeRedirectRequest.model_validate({"source_url": SOURCE})
    assert request_fingerprint("op", explicit) == request_fingerprint("op", implicit)


def test_key_order_does_not_matter() -> None:
    a = GazeRedirectRequest.model_validate({"source_url": SOURCE, "metadata": {"a": 1, "b": 2}})
    b = GazeRedirectRequest.model_validate({"metadata": {"b": 2, "a": 1}, "source_url": SOURCE})
    assert request_fingerprint("op", a) == request_fingerprint("op", b)


def test_any_difference_changes_it() -> None:
    base = GazeRedirectRequest(source_url=SOURCE, intensity=0.5)
    assert request_fingerprint("op", base) != request_fingerprint(
        "op", GazeRedirectRequest(source_url=SOURCE)
    )
    assert request_fingerprint("op", base) != request_fingerprint("other", base)
    assert request_fingerprint("op", SuperResolutionRequest(source_url=SOURCE)) != request_fingerprint(
        "op", GazeRedirectRequest(source_url=SOURCE)
    )


def test_the_canonical_form_is_stable() -> None:
    """Fingerprints are stored with idempotency keys for 24 h: a deploy must not change how one is computed."""
    body = GazeRedirectRequest(source_url=SOURCE, intensity=0.5)
    canonical = (
        '{"body":{"intensity":0.5,"metadata":{},"source_url":"https://cdn.example.com/a.mp4",'
        '"webhook_url":null},"operation":"op"}'
    )
    assert request_fingerprint("op", body) == hashlib.sha256(canonical.encode()).hexdigest()
