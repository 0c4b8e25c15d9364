"""Notify Lambda: SQS batch of task events → one webhook delivery execution per destination."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from framelane.config import get_settings
from framelane.lambdas import sqs_batch_handler
from framelane.pipeline.steps import run_notify
from framelane.services.context import build_context

ctx = build_context(get_settings())


def record_handler(record: SQSRecord) -> None:
    run_notify(ctx, record.body)


handler = sqs_batch_handler(record_handler)
