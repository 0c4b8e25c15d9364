"""All SQS access: the queues behind the state machines' callback steps, and the local pollers' reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@dataclass(frozen=True)
class ReceivedMessage:
    body: str
    receipt_handle: str
    receive_count: int


class SqsQueues:
    def __init__(self, client: SQSClient, url_prefix: str) -> None:
        self._client = client
        self.url_prefix = url_prefix

    def url(self, step: str) -> str:
        return f"{self.url_prefix}{step}"

    def send(self, step: str, body: str) -> None:
        self._client.send_message(QueueUrl=self.url(step), MessageBody=body)

    def receive(self, step: str, *, wait_seconds: int = 1, max_messages: int = 10) -> list[ReceivedMessage]:
        response = self._client.receive_message(
            QueueUrl=self.url(step),
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        return [
            ReceivedMessage(
                body=m["Body"],
                receipt_handle=m["ReceiptHandle"],
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            )
            for m in response.get("Messages", [])
        ]

    def delete(self, step: str, receipt_handle: str) -> None:
        try:
            self._client.delete_message(QueueUrl=self.url(step), ReceiptHandle=receipt_handle)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ReceiptHandleIsInvalid":
                raise
