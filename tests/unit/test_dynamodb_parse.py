"""The store reads items as the wire's JSON instead of through botocore's parser (adapters/dynamodb.py): every
item read must come back exactly as botocore would parse it, binary values included."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from framelane.adapters.dynamodb import DynamoStore

ITEMS: list[dict[str, Any]] = [
    {
        "PK": {"S": "WS#1"},
        "SK": {"S": f"TASK#{number}"},
        "n": {"N": "1.50"},
        "flag": {"BOOL": number % 2 == 0},
        "nothing": {"NULL": True},
        "list": {"L": [{"S": "a"}, {"N": "2"}, {"M": {"deep": {"BOOL": False}}}]},
        "map": {"M": {"k": {"S": "v"}, "unicode": {"S": 'é ✓ "quoted"'}}},
        "strings": {"SS": ["a", "b"]},
        "numbers": {"NS": ["1", "2.5"]},
    }
    for number in range(5)
]
BINARY = {"PK": {"S": "WS#2"}, "SK": {"S": "TASK#b"}, "blob": {"B": b"\x00hello"}, "blobs": {"BS": [b"x"]}}


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        fast = boto3.client("dynamodb")
        store = DynamoStore(fast, "t")
        store.create_table()
        plain = boto3.client("dynamodb")
        for item in [*ITEMS, BINARY]:
            plain.put_item(TableName="t", Item=item)
        yield fast, plain


def _without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def test_item_reads_match_botocore(clients: Any) -> None:
    fast, plain = clients
    reads: list[tuple[str, dict[str, Any]]] = [
        ("get_item", {"TableName": "t", "Key": {"PK": {"S": "WS#1"}, "SK": {"S": "TASK#1"}}}),
        ("get_item", {"TableName": "t", "Key": {"PK": {"S": "WS#1"}, "SK": {"S": "TASK#none"}}}),
        ("get_item", {"TableName": "t", "Key": {"PK": {"S": "WS#2"}, "SK": {"S": "TASK#b"}}}),
        (
            "query",
            {
                "TableName": "t",
                "KeyConditionExpression": "PK = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "WS#1"}},
                "Limit": 2,
                "ScanIndexForward": False,
            },
        ),
        ("scan", {"TableName": "t"}),
    ]
    for operation, params in reads:
        answered = _without_metadata(getattr(fast, operation)(**params))
        assert answered == _without_metadata(getattr(plain, operation)(**params)), operation
    blob = fast.get_item(**reads[2][1])["Item"]
    assert blob["blob"]["B"] == b"\x00hello"  # botocore's parse, not base64 text
    page = fast.query(**reads[3][1])
    assert len(page["Items"]) == 2 and page["LastEvaluatedKey"]["SK"] == {"S": "TASK#3"}
