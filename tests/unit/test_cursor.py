import pytest

from framelane.errors import InvalidCursor
from framelane.services.cursor import decode_cursor, encode_cursor

POSITION = {"PK": "WS#ws_1", "SK": "TASK#task_01"}
FILTERS: dict[str, str | None] = {"type": None, "status": "queued"}


def test_round_trip() -> None:
    cursor = encode_cursor(POSITION, workspace_id="ws_1", filters=FILTERS, secret="s")
    assert decode_cursor(cursor, workspace_id="ws_1", filters=FILTERS, secret="s") == POSITION
    assert "WS#" not in cursor  # opaque


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
