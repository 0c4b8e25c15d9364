"""The moto journal (local/journal.py) on a real moto_server: what was acknowledged survives SIGKILL and restarts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from framelane.local.processes import ChildService, ServiceStartError, start_moto

TABLE = "journal-test"
BUCKET = "journal-bucket"


@contextmanager
def moto(tmp_path: Path, journal: Path) -> Iterator[tuple[ChildService, Any, Any]]:
    service = start_moto(tmp_path, journal_dir=journal)
    options: dict[str, Any] = {
        "endpoint_url": service.url,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    try:
        yield service, boto3.client("dynamodb", **options), boto3.client("s3", **options)
    finally:
        service.process.kill()  # SIGKILL: nothing gets a chance to flush
        service.process.wait()


def test_tables_and_objects_survive_sigkill_and_restarts(tmp_path: Path) -> None:
    journal = tmp_path / "aws"
    big = bytes(range(256)) * (6 * 4096)  # 6 MiB, uploaded in 5 MiB parts
    with moto(tmp_path, journal) as (service, dynamodb, s3):
        dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        )
        for number in range(5):
            dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": f"item-{number}"}, "n": {"N": str(number)}})
        dynamodb.update_item(
            TableName=TABLE,
            Key={"PK": {"S": "item-1"}},
            UpdateExpression="SET n = n + :one",
            ExpressionAttributeValues={":one": {"N": "10"}},
        )
        dynamodb.delete_item(TableName=TABLE, Key={"PK": {"S": "item-4"}})
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "tx-a"}}}},
                {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "tx-b"}}}},
            ]
        )
        with pytest.raises(ClientError):  # a write that failed is not recorded (its replay would fail too)
            dynamodb.put_item(
                TableName=TABLE, Item={"PK": {"S": "item-0"}}, ConditionExpression="attribute_not_exists(PK)"
            )

        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(
            Bucket=BUCKET, Key="a/small.txt", Body=b"hello", ContentType="text/plain", Metadata={"x": "1"}
        )
        s3.upload_fileobj(
            _Reader(big), BUCKET, "a/big.bin", Config=TransferConfig(multipart_threshold=5 * 1024 * 1024)
        )
        s3.copy_object(Bucket=BUCKET, Key="a/copy.txt", CopySource={"Bucket": BUCKET, "Key": "a/small.txt"})
        s3.put_object(Bucket=BUCKET, Key="a/gone.txt", Body=b"bye")
        s3.delete_object(Bucket=BUCKET, Key="a/gone.txt")
        presigned = s3.generate_presigned_url(
            "put_object", Params={"Bucket": BUCKET, "Key": "uploads/clip.mp4"}, ExpiresIn=60, HttpMethod="PUT"
        )
        assert httpx.put(presigned, content=b"clip-bytes", timeout=10).status_code == 200

    for _ in range(2):  # the second start replays the journal the first one compacted
        with moto(tmp_path, journal) as (service, dynamodb, s3):
            items = {
                item["PK"]["S"]: item.get("n", {}).get("N")
                for item in dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
            }
            assert items == {
                "item-0": "0",
                "item-1": "11",
                "item-2": "2",
                "item-3": "3",
                "tx-a": None,
                "tx-b": None,
            }
            small = s3.get_object(Bucket=BUCKET, Key="a/small.txt")
            assert small["Body"].read() == b"hello"
            assert small["ContentType"] == "text/plain" and small["Metadata"] == {"x": "1"}
            big_back = s3.get_object(Bucket=BUCKET, Key="a/big.bin")["Body"].read()
            assert hashlib.sha256(big_back).digest() == hashlib.sha256(big).digest()
            assert s3.get_object(Bucket=BUCKET, Key="a/copy.txt")["Body"].read() == b"hello"
            assert s3.get_object(Bucket=BUCKET, Key="uploads/clip.mp4")["Body"].read() == b"clip-bytes"
            keys = {entry["Key"] for entry in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
            assert "a/gone.txt" not in keys
        log = service.log_path.read_text()
        assert "records replayed, compacted to 12" in log, log[-2000:]  # table, 6 items, bucket, 4 objects
    assert len(list((journal / "objects").iterdir())) == 3  # hello, big, clip-bytes: "bye" was collected


def test_a_damaged_journal_stops_the_start_and_is_left_as_it_was(tmp_path: Path) -> None:
    journal = tmp_path / "aws"
    with moto(tmp_path, journal) as (_, _dynamodb, s3):
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"v")
    path = journal / "journal.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    damaged = lines[0] + b"\x00garbage\n" + b"".join(lines[1:])
    path.write_bytes(damaged)
    with pytest.raises(ServiceStartError, match=r"line 2 is not a journal record"):
        start_moto(tmp_path, journal_dir=journal)
    assert path.read_bytes() == damaged

    path.write_bytes(b"".join(lines))
    for name in (journal / "objects").iterdir():
        name.write_bytes(b"not what was stored")
    with pytest.raises(ServiceStartError, match=r"does not match its hash"):
        start_moto(tmp_path, journal_dir=journal)


class _Reader:
    """A file-like object boto3 uploads in parts."""

    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        chunk, self.offset = self.data[self.offset : end], min(end, len(self.data))
        return chunk
