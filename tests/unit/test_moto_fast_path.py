"""The local moto server dumps DynamoDB item results directly (local/moto_server.py); moto's own serializer
must produce the same JSON for every item operation the stack uses, or the fast path would change answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.dynamodb.responses import DynamoResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from framelane.local import moto_server
from framelane.local.journal import call, dynamodb_environ

ITEM = {
    "PK": {"S": "WS#1"},
    "SK": {"S": "TASK#1"},
    "n": {"N": "1.50"},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "list": {"L": [{"S": "a"}, {"N": "2"}]},
    "map": {"M": {"k": {"S": "v"}}},
    "strings": {"SS": ["a", "b"]},
    "blob": {"B": "aGVsbG8="},
}
KEY = {"PK": {"S": "WS#1"}, "SK": {"S": "TASK#1"}}
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("PutItem", {"TableName": "t", "Item": ITEM}),
    ("PutItem", {"TableName": "t", "Item": ITEM, "ReturnValues": "ALL_OLD"}),
    ("GetItem", {"TableName": "t", "Key": KEY, "ConsistentRead": True}),
    (
        "UpdateItem",
        {
            "TableName": "t",
            "Key": KEY,
            "UpdateExpression": "SET n = n + :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            "ReturnValues": "ALL_NEW",
        },
    ),
    (
        "Query",
        {
            "TableName": "t",
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "WS#1"}},
            "Limit": 1,
        },
    ),
    ("Scan", {"TableName": "t"}),
    ("BatchGetItem", {"RequestItems": {"t": {"Keys": [KEY]}}}),
    (
        "TransactWriteItems",
        {"TransactItems": [{"Put": {"TableName": "t", "Item": {**KEY, "SK": {"S": "TASK#2"}}}}]},
    ),
    ("BatchWriteItem", {"RequestItems": {"t": [{"DeleteRequest": {"Key": {**KEY, "SK": {"S": "TASK#2"}}}}]}}),
    ("DeleteItem", {"TableName": "t", "Key": KEY, "ReturnValues": "ALL_OLD"}),
]


def test_item_results_are_the_json_moto_would_serialize(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_PORT", "5000")
    monkeypatch.setattr(DynamoResult, "execute_result", DynamoResult.execute_result)  # undone after the test
    original = DynamoResult.execute_result
    moto_server._fast_dynamodb_results()
    fast = DynamoResult.execute_result
    compared: list[str] = []

    def both(self: DynamoResult, context: Any) -> Any:
        expected = original(self, context)
        answered = fast(self, context)
        assert json.loads(answered[2]) == json.loads(expected[2]), context.operation_model.name
        assert answered[0] == expected[0]
        compared.append(context.operation_model.name)
        return answered

    monkeypatch.setattr(DynamoResult, "execute_result", both)
    app = DomainDispatcherApplication(create_backend_app)
    table = {
        "TableName": "t",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in ("PK", "SK")],
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
    }
    for operation, body in [("CreateTable", table), *CALLS]:
        status, _, chunks = call(app, dynamodb_environ(f"DynamoDB_20120810.{operation}", json.dumps(body)))
        assert status.startswith("200"), (operation, b"".join(chunks))
    # TransactWriteItems and BatchWriteItem answer with moto's own strings, not through the serializer
    assert {"GetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem"} <= set(
        compared
    )
