"""S3 upload trigger Lambda: S3 event notifications (via SQS) → tasks, through the API's own create_task."""

import json

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from framelane.config import get_settings
from framelane.lambdas import metrics, sqs_batch_handler
from framelane.services.context import build_context
from framelane.services.s3_trigger import tasks_from_s3_event

ctx = build_context(get_settings())


def record_handler(record: SQSRecord) -> None:
    created = tasks_from_s3_event(ctx, json.loads(record.body))
    metrics.add_metric(name="TasksFromUploads", unit=MetricUnit.Count, value=len(created))


handler = sqs_batch_handler(record_handler)
