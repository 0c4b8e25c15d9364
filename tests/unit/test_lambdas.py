"""The shared SQS batch handler and the service logger: one failing record is reported alone, and a module's
child logger writes the Lambda request id the handler injected into the service logger."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from framelane.lambdas import sqs_batch_handler
from framelane.logs import SERVICE, service_logger

CONTEXT = SimpleNamespace(
    function_name="f",
    function_version="1",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
    aws_request_id="req-42",
)


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": "r",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


@pytest.fixture
def service_lines(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    handler = service_logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    monkeypatch.setattr(handler, "stream", stream)
    return stream


def test_only_the_failing_record_is_reported(service_lines: io.StringIO) -> None:
    seen: list[str] = []

    def record_handler(record: SQSRecord) -> None:
        seen.append(record.body)
        if record.body == "bad":
            raise ValueError("cannot process")

    handler = sqs_batch_handler(record_handler)
    result = handler(sqs_event("ok", "bad", "ok too"), CONTEXT)  # type: ignore[arg-type]
    assert seen == ["ok", "bad", "ok too"]
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_a_child_logger_carries_the_request_id(service_lines: io.StringIO) -> None:
    child = Logger(service=SERVICE, child=True)  # as every module makes its logger

    def record_handler(record: SQSRecord) -> None:
        child.info("handled", extra={"body": record.body})

    sqs_batch_handler(record_handler)(sqs_event("hello"), CONTEXT)  # type: ignore[arg-type]
    lines = [json.loads(line) for line in service_lines.getvalue().splitlines()]
    handled = [line for line in lines if line["message"] == "handled"]
    assert len(handled) == 1
    assert handled[0]["function_request_id"] == "req-42"
    assert handled[0]["body"] == "hello"
    assert handled[0]["service"] == SERVICE
