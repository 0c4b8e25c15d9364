"""What every SQS-fed Lambda shares: the service logger with the Lambda context, tracing, metrics, and
Powertools' partial batch response (a record that raises is reported alone, so SQS redelivers only it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from framelane.logs import SERVICE, service_logger

SqsBatchHandler = Callable[[dict[str, Any], LambdaContext], PartialItemFailureResponse]

tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="Framelane", service=SERVICE)


def sqs_batch_handler(record_handler: Callable[[SQSRecord], None]) -> SqsBatchHandler:
    """The Lambda entry point that runs `record_handler` on each record of an SQS batch."""
    processor = BatchProcessor(event_type=EventType.SQS)
    traced = tracer.capture_method(record_handler)

    @service_logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        return process_partial_response(
            event=event, record_handler=traced, processor=processor, context=context
        )

    return handler
