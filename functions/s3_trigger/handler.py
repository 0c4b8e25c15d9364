"""S3 upload trigger Lambda: S3 event notifications (via SQS) → tasks, through the API's own create_task."""

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from framelane.config import get_settings
from framelane.services.context import build_context
from framelane.services.s3_trigger import tasks_from_s3_event

logger = Logger(service="framelane-s3-trigger")
tracer = Tracer(service="framelane-s3-trigger")
metrics = Metrics(namespace="Framelane", service="framelane-s3-trigger")
processor = BatchProcessor(event_type=EventType.SQS)
ctx = build_context(get_settings())


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    created = tasks_from_s3_event(ctx, json.loads(record.body))
    metrics.add_metric(name="TasksFromUploads", unit=MetricUnit.Count, value=len(created))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
