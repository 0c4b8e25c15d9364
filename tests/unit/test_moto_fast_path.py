"""The local moto server dumps DynamoDB item results directly (local/moto_server.py); moto's own serializer
must produce the same JSON for every item operation the stack uses, or the fast path would change answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.core.responses import ActionResult
from moto.dynamodb.models.utilities import dynamo_to_dict
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
    "blobs": {"BS": ["aGVsbG8=", "d29ybGQ="]},
    "nested": {"M": {"inner": {"B": "aGVsbG8="}, "deeper": {"L": [{"M": {"n": {"N": "7"}}}]}}},
}
KEY = {"PK": {"S": "WS#1"}, "SK": {"S": "TASK#1"}}
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("PutItem", {"TableName": "t", "Item": ITEM}),
    ("PutItem", {"TableName": "t", "Item": ITEM, "ReturnValues": "ALL_OLD"}),
    ("GetItem", {"TableName": "t", "Key": KEY, "ConsistentRead": True}),
    (
        "GetItem",
        {
            "TableName": "t",
            "Key": KEY,
            "ProjectionExpression": "#b, blobs, nested.inner, n",
            "ExpressionAttributeNames": {"#b": "blob"},
        },
    ),
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
    monkeypatch.setattr(
        DynamoResult, "execute_result", DynamoResult.execute_result
    )  # both undone after the test
    monkeypatch.setattr(DynamoResult, "__init__", DynamoResult.__init__)
    original = DynamoResult.execute_result
    moto_server._fast_dynamodb_results()
    fast = DynamoResult.execute_result
    compared: list[str] = []

    def both(self: DynamoResult, context: Any) -> Any:
        as_moto_builds_it = object.__new__(DynamoResult)
        ActionResult.__init__(as_moto_builds_it, dynamo_to_dict(self.result))
        expected = original(as_moto_builds_it, context)
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


def _query_pages(app: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of a Query, following LastEvaluatedKey."""
    pages: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        request = {**body, **({"ExclusiveStartKey": start} if start else {})}
        status, _, chunks = call(app, dynamodb_environ("DynamoDB_20120810.Query", json.dumps(request)))
        assert status.startswith("200"), b"".join(chunks)
        pages.append(json.loads(b"".join(chunks)))
        start = pages[-1].get("LastEvaluatedKey")
        if not start or len(pages) > 50:
            return pages


def test_queries_reading_one_partition_answer_the_pages_moto_would(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.table import Table

    monkeypatch.setenv("MOTO_PORT", "5000")
    monkeypatch.setattr(Table, "query", Table.query)  # all three undone after the test
    monkeypatch.setattr(Table, "all_items", Table.all_items)
    monkeypatch.setattr(table_module, "copy", table_module.copy)  # type: ignore[attr-defined]
    original = (Table.query, Table.all_items)
    moto_server._query_reads_one_partition()
    fast = (Table.query, Table.all_items)
    app = DomainDispatcherApplication(create_backend_app)
    table = {
        "TableName": "q",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in ("PK", "SK", "G", "GS")],
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "byG",
                "KeySchema": [
                    {"AttributeName": "G", "KeyType": "HASH"},
                    {"AttributeName": "GS", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
    puts = []
    for number in range(60):
        partition = ("WS#a", "WS#b", "WS#c")[number % 3]
        item = {"PK": {"S": partition}, "SK": {"S": f"TASK#{number * 7 % 60:03d}"}, "n": {"N": str(number)}}
        if number % 4:  # some items are not in the index
            item |= {"G": {"S": f"{partition}#{number % 2}"}, "GS": {"S": f"TASK#{number:03d}"}}
        puts.append(item)
    puts.append({"PK": {"S": "WS#a"}, "SK": {"S": "KEY#1"}})  # another kind of item in a task's partition
    for operation, body in [
        ("CreateTable", table),
        *(("PutItem", {"TableName": "q", "Item": i}) for i in puts),
    ]:
        status, _, chunks = call(app, dynamodb_environ(f"DynamoDB_20120810.{operation}", json.dumps(body)))
        assert status.startswith("200"), b"".join(chunks)
    base = {
        "TableName": "q",
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "WS#a"}},
    }
    queries: list[dict[str, Any]] = [
        {**base, "ProjectionExpression": "SK"},  # first: a projection must not change the stored items
        base,
        {**base, "ScanIndexForward": False, "Limit": 3},
        {
            **base,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :t)",
            "ExpressionAttributeValues": {":pk": {"S": "WS#b"}, ":t": {"S": "TASK#"}},
            "ScanIndexForward": False,
            "Limit": 4,
        },
        {
            **base,
            "Limit": 5,
            "FilterExpression": "n > :five",
            "ExpressionAttributeValues": {":pk": {"S": "WS#a"}, ":five": {"N": "5"}},
        },
        {**base, "ExpressionAttributeValues": {":pk": {"S": "WS#nobody"}}},
        {
            "TableName": "q",
            "IndexName": "byG",
            "KeyConditionExpression": "G = :g AND begins_with(GS, :t)",
            "ExpressionAttributeValues": {":g": {"S": "WS#c#1"}, ":t": {"S": "TASK#"}},
            "ScanIndexForward": False,
            "Limit": 2,
        },
        {
            "TableName": "q",
            "IndexName": "byG",
            "KeyConditionExpression": "G = :g",
            "ExpressionAttributeValues": {":g": {"S": "WS#b#0"}},
            "Limit": 3,
        },
    ]
    for body in queries:
        Table.query, Table.all_items = fast  # type: ignore[method-assign]
        answered = _query_pages(app, body)
        Table.query, Table.all_items = original  # type: ignore[method-assign]
        assert answered == _query_pages(app, body), body
        assert sum(len(page["Items"]) for page in answered) == sum(page["Count"] for page in answered)
    assert len(_query_pages(app, queries[2])) > 3  # the paging itself was compared


@pytest.mark.parametrize(
    "block",
    [
        b"Host: 127.0.0.1:5000\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n"
        b'Content-Length: 12\r\n\r\n{"body": 1}',
        b"A:no-space\r\nB:   \t padded  \r\nA: twice\r\nEmpty:\r\n\n",
        b"Folded: first\r\n  continued\r\nNext: x\r\n\r\nbody",
        b"no colon here\r\nX: y\r\n\r\n",
        b" Leading: blank\r\n\r\n",
        b"Name : spaced\r\n\r\n",
        b"Latin: caf\xe9\r\n\r\n",
        b"Eof: without blank line\r\n",
    ],
)
def test_fast_header_parse_matches_the_email_parser(block: bytes) -> None:
    import http.client
    import io

    theirs, ours = io.BytesIO(block), io.BytesIO(block)
    expected = http.client.parse_headers(theirs)
    parsed = moto_server._parse_headers(ours)
    assert type(parsed) is type(expected)
    assert parsed.items() == expected.items()
    assert [repr(defect) for defect in parsed.defects] == [repr(defect) for defect in expected.defects]
    assert ours.read() == theirs.read()  # the body starts where it did
