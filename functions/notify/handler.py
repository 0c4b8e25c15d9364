"""Notify Lambda: SQS batch of task events → one webhook delivery execution per destination."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from framelane.config import get_settings
from framelane.pipeline.steps import run_notify
from framelane.services.context import build_context

logger = Logger(service="framelane-notify")
tracer = Tracer(service="framelane-notify")
metrics = Metrics(namespace="Framelane", service="framelane-notify")
processor = BatchProcessor(event_type=EventType.SQS)
ctx = build_context(get_settings())


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    run_notify(ctx, record.body)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
