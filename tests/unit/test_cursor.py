import base64
import hashlib
import hmac
import json

import pytest

from framelane.errors import InvalidCursor
from framelane.services.cursor import decode_cursor, encode_cursor

POSITION = {"PK": "WS#ws_1", "SK": "TASK#task_01"}
FILTERS: dict[str, str | None] = {"type": None, "status": "queued"}


def test_round_trip() -> None:
    cursor = encode_cursor(POSITION, workspace_id="ws_1", filters=FILTERS, secret="s")
    assert decode_cursor(cursor, workspace_id="ws_1", filters=FILTERS, secret="s") == POSITION


def test_format_is_the_documented_one() -> None:
    """README: a base64url position, signed with HMAC-SHA256 over the position, the workspace and the filters.

    Worked out here independently, so a change to any part of the format (padding, key order, the signed text)
    shows up: cursors already handed out must keep decoding after a deploy.
    """
    cursor = encode_cursor(POSITION, workspace_id="ws_1", filters=FILTERS, secret="s")
    body = base64.urlsafe_b64encode(b'{"PK":"WS#ws_1","SK":"TASK#task_01"}').rstrip(b"=").decode()
    scope = '{"filters":{"status":"queued","type":null},"ws":"ws_1"}'
    mac = hmac.new(b"s", f"{body}.{scope}".encode(), hashlib.sha256).digest()
    assert cursor == f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert "=" not in cursor


def test_signature_of_another_body_is_rejected() -> None:
    """A valid body with the signature of another position (same scope) is refused, not decoded."""
    first = encode_cursor(POSITION, workspace_id="ws_1", filters=FILTERS, secret="s")
    second = encode_cursor(
        {"PK": "WS#ws_1", "SK": "TASK#z"}, workspace_id="ws_1", filters=FILTERS, secret="s"
    )
    with pytest.raises(InvalidCursor):
        decode_cursor(
            f"{first.split('.')[0]}.{second.split('.')[1]}", workspace_id="ws_1", filters=FILTERS, secret="s"
        )


@pytest.mark.parametrize("position", [[1, 2], "text", 7, None])
def test_a_signed_body_that_is_not_an_object_is_rejected(position: object) -> None:
    """Only a signed JSON object is a position; a validly signed list or scalar (say, an old format) is not."""
    body = base64.urlsafe_b64encode(json.dumps(position).encode()).rstrip(b"=").decode()
    scope = '{"filters":{"status":"queued","type":null},"ws":"ws_1"}'
    mac = hmac.new(b"s", f"{body}.{scope}".encode(), hashlib.sha256).digest()
    cursor = f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(InvalidCursor) as failure:
        decode_cursor(cursor, workspace_id="ws_1", filters=FILTERS, secret="s")
    assert failure.value.message == "cursor is invalid"


def test_tampered_body_is_rejected() -> None:
    cursor = encode_cursor(POSITION, workspace_id="ws_1", filters=FILTERS, secret="s")
    body, sig = cursor.split(".")
    forged = encode_cursor(
        {"PK": "WS#ws_2", "SK": "TASK#x"}, workspace_id="ws_1", filters=FILTERS, secret="s"
    )
    with pytest.raises(InvalidCursor):
        decode_cursor(f"{forged.split('.')[0]}.{sig}", workspace_id="ws_1", filters=FILTERS, secret="s")
    with pytest.raises(InvalidCursor):
        decode_cursor(body + "A." + sig, workspace_id="ws_1", filters=FILTERS, secret="s")


@pytest.mark.parametrize(
    "workspace,filters,secret",
    [
        ("ws_2", FILTERS, "s"),
        ("ws_1", {"type": "transcribe", "status": "queued"}, "s"),
        ("ws_1", FILTERS, "other-secret"),
    ],
)
def test_cursor_is_bound_to_workspace_filters_and_secret(
    workspace: str, filters: dict[str, str | None], secret: str
) -> None:
    cursor = encode_cursor(POSITION, workspace_id="ws_1", filters=FILTERS, secret="s")
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, workspace_id=workspace, filters=filters, secret=secret)


@pytest.mark.parametrize("garbage", ["", ".", "abc", "abc.def", "!!!.???", "a" * 500])
def test_garbage_is_rejected(garbage: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(garbage, workspace_id="ws_1", filters=FILTERS, secret="s")


@pytest.mark.parametrize("size", range(12))
def test_positions_of_every_length_round_trip(size: int) -> None:
    """base64url without padding: every body and signature length must decode again (padding restored)."""
    position = {"PK": "WS#ws_1", "SK": "TASK#" + "x" * size}
    cursor = encode_cursor(position, workspace_id="ws_1", filters=FILTERS, secret="s")
    assert decode_cursor(cursor, workspace_id="ws_1", filters=FILTERS, secret="s") == position


@pytest.mark.parametrize("signature", ["A", "AAAAA", "*"])
def test_a_signature_that_is_not_base64_is_rejected(signature: str) -> None:
    body = encode_cursor(POSITION, workspace_id="ws_1", filters=FILTERS, secret="s").split(".")[0]
    with pytest.raises(InvalidCursor) as failure:
        decode_cursor(f"{body}.{signature}", workspace_id="ws_1", filters=FILTERS, secret="s")
    assert failure.value.message == "cursor is invalid, or was issued for another query"


def test_keys_are_sorted() -> None:
    """The body is the position with sorted keys: the order a store hands the keys over must not matter."""
    assert encode_cursor(
        {"SK": "TASK#task_01", "PK": "WS#ws_1"}, workspace_id="ws_1", filters=FILTERS, secret="s"
    ) == encode_cursor(POSITION, workspace_id="ws_1", filters=FILTERS, secret="s")
